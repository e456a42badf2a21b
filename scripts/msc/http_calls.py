"""HTTP calls made from inside a cluster: this file's source runs as `python3 -c` in the helm-test-client pod
(python3 and its standard library, no shell), so requests use cluster DNS and the pod network.

argv[1]: a JSON list of steps {name, url, body?, retry?, timeout?} (timeout: seconds per request, default 30);
prints {name: {status, body, url}} as JSON. A step
with `retry` seconds is repeated until it answers 200 or the time is up (its own small loop: it runs alone in
the pod, where the msc package and its wait_until are not)."""
import json
import sys
import time
import urllib.error
import urllib.request


def call(step: dict) -> dict:
    data = None if step.get("body") is None else json.dumps(step["body"]).encode()
    deadline = time.monotonic() + step.get("retry", 0)
    while True:
        req = urllib.request.Request(step["url"], data=data, method="POST" if data is not None else "GET",
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=step.get("timeout", 30)) as resp:
                status, raw = resp.status, resp.read().decode()
        except urllib.error.HTTPError as err:
            status, raw = err.code, err.read().decode()
        except OSError as err:
            status, raw = 0, f"{type(err).__name__}: {err}"
        if status == 200 or time.monotonic() > deadline:
            break
        time.sleep(1)
    try:
        body = json.loads(raw)
    except ValueError:
        body = raw
    return {"status": status, "body": body, "url": step["url"]}


if __name__ == "__main__":
    print(json.dumps({step["name"]: call(step) for step in json.loads(sys.argv[1])}))
