"""The JSON API under `/api/v1`.

- `blueprint`: the `api` blueprint, its children nested in it, the checks before every request;
- `context`: the application's state, the request's Session, runtime, user and actor;
- `body`: reading JSON request bodies against declared fields;
- `auth`, `directory`, `documents`, `verify`: the endpoints; `problems`: errors as RFC 9457.
"""
