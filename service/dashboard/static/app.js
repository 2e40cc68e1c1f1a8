// The dashboard's shell: sign-in, navigation between the pages (hash routes, so every page has an
// address), focus on each page's heading, and how long each page took to draw (window.encoreRenders:
// the browser tests and benchmarks.dashboard read it). `main[data-ready]` names the page once its first
// render is done (every card drawn), `main[data-complete]` once what it goes on loading has come in.

import * as api from "./api.js";
import { h } from "./ui.js";
import * as overview from "./pages/overview.js";
import * as customer from "./pages/customer.js";
import * as item from "./pages/item.js";
import * as campaigns from "./pages/campaigns.js";
import * as experiments from "./pages/experiments.js";

const PAGES = { overview, customer, item, campaigns, experiments };
const main = document.getElementById("main");
const nav = document.getElementById("nav");
const who = document.getElementById("who");
window.encoreRenders = [];
let current = null;  // the render in progress: a newer navigation aborts it

/** "#/customer/u1?now=123" -> {name: "customer", arg: "u1", params: URLSearchParams}. */
function route() {
  const [path, query] = location.hash.replace(/^#\/?/, "").split("?");
  const [name, ...rest] = path.split("/");
  return { name: PAGES[name] ? name : "overview", arg: rest.length ? decodeURIComponent(rest.join("/")) : null,
    params: new URLSearchParams(query ?? "") };
}

async function render({ focus = true } = {}) {
  if (!api.signedIn()) {
    showSignIn();
    return;
  }
  current?.abort();
  const controller = new AbortController();
  current = controller;
  const started = performance.now();
  const { name, arg, params } = route();
  const page = PAGES[name];
  showChrome(name);
  const heading = h("h1", { tabindex: "-1" }, page.title);
  const content = h("div", { class: "page" });
  main.replaceChildren(heading, content);
  main.dataset.ready = "";
  document.title = `${page.title} · Encore`;
  if (focus) heading.focus({ preventScroll: true });  // not on a fresh load: Tab starts at the skip link
  let drawn = null;
  try {
    drawn = await page.render(content, { arg, params, signal: controller.signal, admin: api.isAdmin() });
  } catch (error) {
    if (error.name === "AbortError") return;
    content.append(h("p", { class: "note error", role: "alert" }, `This page could not be drawn: ${error.message}`));
  }
  if (controller.signal.aborted) return;
  // first render: every card drawn; a page may go on (a campaign's full count) until `complete`
  const record = { page: name, ms: performance.now() - started, sinceLoad: performance.now() };
  window.encoreRenders.push(record);
  main.dataset.ready = name;
  main.dataset.ms = record.ms.toFixed(0);
  await drawn?.complete;
  if (controller.signal.aborted) return;
  record.completeMs = performance.now() - started;
  main.dataset.complete = name;
}

function showChrome(name) {
  nav.hidden = false;
  for (const link of nav.querySelectorAll("a")) {
    if (link.dataset.page === name) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  const scopes = api.scopes();
  who.replaceChildren(
    h("span", { class: "badge" }, scopes.includes("admin") ? "admin key" : scopes.includes("write") ? "write key" : "read key"),
    h("button", { type: "button", class: "link", onclick: () => { api.signOut(); showSignIn(); } }, "Sign out"));
}

function showSignIn(message) {
  current?.abort();
  nav.hidden = true;
  who.replaceChildren();
  document.title = "Sign in · Encore";
  const input = h("input", { id: "key", name: "key", type: "password", required: true, autocomplete: "off",
    spellcheck: "false" });
  const status = h("p", { id: "sign-in-status", role: "alert", class: message ? "note error" : "" }, message ?? "");
  const button = h("button", { type: "submit" }, "Sign in");
  const form = h("form", {
    class: "sign-in",
    onsubmit: async (event) => {
      event.preventDefault();
      button.disabled = true;
      status.className = "muted";
      status.textContent = "Checking the key…";
      try {
        await api.signIn(input.value.trim());
        if (!location.hash.startsWith("#/")) location.hash = "#/overview";
        render();
      } catch (error) {
        status.className = "note error";
        status.textContent = error instanceof api.ApiError && (error.status === 401 || error.status === 403)
          ? "The service refused this key. Use a read key (RECS_READ_KEYS) or a write or admin key."
          : `Could not reach the service: ${error.message}`;
        button.disabled = false;
        input.select();
      }
    },
  },
  h("h1", {}, "Sign in"),
  h("p", {}, "Sign in with an API key of this service. A read key shows every page; an admin key may also retrain. ",
    "The key stays in this browser tab (session storage) and is sent with each API call; closing the tab forgets it."),
  h("label", { for: "key" }, "API key"), input, button, status);
  main.replaceChildren(form);
  main.dataset.ready = "sign-in";
  input.focus();
}

document.getElementById("skip").addEventListener("click", (event) => {
  event.preventDefault();
  (main.querySelector("h1") ?? main).focus();
});
window.addEventListener("hashchange", () => {
  if (location.hash.startsWith("#/")) render();
});
window.addEventListener("encore:signed-out", (event) => showSignIn(`Signed out: ${event.detail}`));
render({ focus: false });
