"""Real receivers for the outbox tests: an HTTP server that records webhook deliveries and an SMTP
server (aiosmtpd) that records emails, both on loopback in the test process."""

import email
import email.policy
import http.server
import json
import threading
import time


class Receiver:
    """A webhook receiver: answers the scripted statuses in turn (then 200) and records every request.
    With hold_first, the first request gets no answer until release() (a delivery in flight); with
    delay, every answer comes that many seconds after its request (a slow endpoint). `answered` holds
    the time.monotonic() of each answer sent."""

    def __init__(self, statuses=(), hold_first=False, headers=None, delay=0):
        self.requests, self.statuses, self.lock = [], list(statuses), threading.Lock()
        self.answered, self.arrived = [], threading.Event()
        self.held, self.release_event = threading.Event(), threading.Event()
        if not hold_first:
            self.release_event.set()
        receiver, extra_headers = self, headers or {}

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                with receiver.lock:
                    first = not receiver.requests
                    receiver.requests.append({"path": self.path, "headers": dict(self.headers), "body": body,
                                              "json": json.loads(body)})
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                receiver.arrived.set()
                if first and not receiver.release_event.is_set():
                    receiver.held.set()
                    receiver.release_event.wait(60)
                    return
                time.sleep(delay)
                self.send_response(status)
                for name, value in extra_headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")
                with receiver.lock:
                    receiver.answered.append(time.monotonic())

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks?src=affilut"

    def release(self):
        self.release_event.set()

    def wait_for(self, count, timeout=30, pump=None):
        """Until `count` requests arrived (calling pump() meanwhile, e.g. a delivery round); return them."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if pump:
                pump()
            with self.lock:
                if len(self.requests) >= count:
                    return list(self.requests)
            time.sleep(0.05)
        raise AssertionError(f"{len(self.requests)} requests arrived, not {count}")

    def close(self):
        self.release_event.set()
        self.server.shutdown()
        self.server.server_close()


class Mailbox:
    """aiosmtpd's handler: every message received, parsed, with its envelope recipients."""

    def __init__(self):
        self.messages, self.lock = [], threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.original_content or envelope.content, policy=email.policy.default)
        with self.lock:
            self.messages.append({"to": list(envelope.rcpt_tos), "from": envelope.mail_from, "message": message,
                                  "subject": message["Subject"], "text": message.get_body(("plain",)).get_content(),
                                  "html": message.get_body(("html",)).get_content()})
        return "250 Message accepted for delivery"

    def to(self, address):
        with self.lock:
            return [m for m in self.messages if address in m["to"]]
