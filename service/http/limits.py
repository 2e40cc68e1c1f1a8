"""Bounds on request parameters: one home for each, read by the parameter checks and the OpenAPI
document alike."""

from recommender.times import EARLIEST_TIMESTAMP

#: Items per list (n).
MAX_N = 100
#: Bytes of a request line (method, path and query string) and of one header the HTTP parser accepts: room for
#: every id and parameter within their own bounds, percent-encoded, so those get this service's JSON errors.
#: Longer lines are refused by aiohttp's parser itself (a plain-text 400: it answers before any middleware).
MAX_REQUEST_LINE_BYTES = 64 * 1024
MAX_HEADER_BYTES = 16 * 1024
#: Users per batch request.
MAX_BATCH_USERS = 100_000
#: Items per POST /v1/users/{user_id}/shown (an email or a page shows a few dozen at most).
MAX_SHOWN_ITEMS = 1000
#: Days a GET /v1/stats/online report may sum (the daily counters are kept 92 days).
MAX_STATS_DAYS = 90
#: Day and hour windows of the retention routes (ten years).
MAX_DAYS = 3650
#: The longest item audience one request may stream (customers).
MAX_AUDIENCE = 1_000_000
#: Browse abandonment's `min_views` at most (a browse of more views than this is not a browse).
MAX_VIEWS = 1000
MAX_HOURS = MAX_DAYS * 24
#: A `now` parameter is a plausible time (recommender.times): from 1990-01-01 to the clock plus one day.
MIN_NOW = int(EARLIEST_TIMESTAMP)
#: Distinct query strings whose parsed list request is remembered per process.
PARSED_QUERIES = 1024
#: Events per GET /v1/users/{user_id}/events response (newest first).
MAX_USER_EVENTS = 1000
#: Time buckets of GET /v1/stats/events: name -> seconds (UTC hours and days).
EVENT_BUCKETS = {"hour": 3600, "day": 86400}
#: Customers per GET /v1/customers audience (n), and the largest min_value (currency units) it takes.
MAX_AUDIENCE = 1_000_000
MAX_VALUE = 1e12
