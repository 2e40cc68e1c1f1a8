"""The only code that talks to Redis and the snapshot file: one module per structure, each owning its
keys' use, its value format, its Lua and every read and write (service.store.keys names every key).

    client        REDIS_URL to a client (plain or cluster), and what "Redis is away" looks like
    embedded      the private redis-server started when REDIS_URL is unset
    keys          every key, hash-tagged for Redis Cluster
    events/       accepted events:
      write       the atomic write script (one Redis) and the cluster write path: stream, since-training
                  state, shown sets, dedupe, attribution
      stream      reading the event stream after a cursor, its generation, trimming what was folded
      since_training  users' since-training events and shown sets: the one-round-trip read, the fold's
                  forget
      format      field names, nonces and limits of the stream and the change log
    mirror        the in-process mirror of users' since-training state, kept exact by the change log
    lists         precomputed lists (packed model indices and scores)
    catalog       the catalog hash, removed items and the revision
    online        online-feedback counters per day
    training_state  the version pointer, the training record, lock and retrain flag
    ratelimit     per-key token buckets
    snapshot      the interaction snapshot file
"""
