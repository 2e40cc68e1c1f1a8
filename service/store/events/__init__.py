"""Accepted events in Redis: the event stream (what training folds), each user's since-training state
(events since the last training, shown sets: what serving reads) and the change log that lets every
replica mirror that state exactly. One structure, written together by one atomic script on a single
Redis (write.py), read by training and the retention index (stream.py) and by serving
(since_training.py, service.store.mirror); field names and nonces in format.py.
"""
