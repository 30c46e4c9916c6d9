"""snippet.js in a real headless Chromium: what a shop's visitor carries from landing to checkout.

Drives Debian's /usr/bin/chromium through playwright (never `playwright install`). The pages are
served from a throwaway local HTTP server, so no affilut server or database is involved.
"""

import functools
import http.server
import json
import os
import shutil
import threading

import pytest

CHROMIUM = "/usr/bin/chromium"
INSTALL = "install them with `apt-get install -y chromium` and `pip install -r requirements.txt`"
SNIPPET = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "snippet.js")
DAY_MS = 86_400_000

PAGE = """<!doctype html>
<meta charset="utf-8">
<link rel="icon" href="data:,">
<title>{title}</title>
{scripts}
<h1>{title}</h1>
{body}
"""

# The public reference's checkout code, which reads sessionStorage directly.
CHECKOUT_BODY = """<p>Referred by <output id="ref"></output> / <output id="sess"></output></p>
<script>
  document.getElementById('ref').textContent = sessionStorage.getItem('aff_ref') || '';
  document.getElementById('sess').textContent = sessionStorage.getItem('aff_sess') || '';
</script>"""


def tag(days="60"):
    attribute = "" if days is None else f' data-attribution-days="{days}"'
    return f'<script src="/snippet.js"{attribute}></script>'


PAGES = {
    "landing.html": (tag(), ""),
    "other.html": (tag(), "<p>About us</p>"),
    "checkout.html": (tag(), CHECKOUT_BODY),
    "week.html": (tag("7"), ""),
    "twice.html": (tag() + "\n" + tag(), ""),
    "async.html": ('<script async src="/snippet.js" data-attribution-days="3"></script>', ""),
}
DAYS_PAGES = {"none": None, "empty": "", "zero": "0", "negative": "-5", "fraction": "1.5", "word": "abc",
              "too-many": "3651", "huge": "99999999999", "one": "1", "max": "3650", "spaced": " 30 "}
for _label, _days in DAYS_PAGES.items():
    PAGES[f"days-{_label}.html"] = (tag(_days), "")

STATE = """() => {
  let local = localStorage.getItem('affilut');
  return {
    metadata: window.affilut.metadata(),
    session: {aff_ref: sessionStorage.getItem('aff_ref'), aff_sess: sessionStorage.getItem('aff_sess')},
    local: local === null ? null : JSON.parse(local),
    now: Date.now(),
  };
}"""

BLOCK_STORAGE = """(() => {
  for (const name of ['localStorage', 'sessionStorage']) {
    Object.defineProperty(window, name, {
      configurable: true,
      get() { throw new DOMException('The operation is insecure.', 'SecurityError'); },
    });
  }
})();"""

BLOCK_LOCAL_STORAGE = """Object.defineProperty(window, 'localStorage', {
  configurable: true,
  get() { throw new DOMException('Access is denied for this document.', 'SecurityError'); },
});"""

FULL_STORAGE = """Storage.prototype.setItem = function () {
  throw new DOMException('The quota has been exceeded.', 'QuotaExceededError');
};"""


def time_shift(ms):
    """An init script that makes the page believe `ms` milliseconds have passed."""
    return f"(() => {{ const realNow = Date.now.bind(Date); Date.now = () => realNow() + ({int(ms)}); }})();"


@pytest.fixture(scope="module")
def browser():
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"browser tests need {CHROMIUM}; {INSTALL}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip(f"browser tests need the playwright module; {INSTALL}")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM,
                                    args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                                          "--disable-component-update", "--disable-sync"])
        yield browser
        browser.close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A tiny shop on a loopback port: the snippet and a few pages that include it."""
    root = tmp_path_factory.mktemp("shop")
    shutil.copy(SNIPPET, root / "snippet.js")
    for name, (scripts, body) in PAGES.items():
        (root / name).write_text(PAGE.format(title=name, scripts=scripts, body=body), encoding="utf-8")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(root)))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


class Visitor:
    """One person's browser profile: tabs share localStorage, each tab has its own sessionStorage."""

    def __init__(self, context, base):
        self.context, self.base = context, base
        self.errors, self.foreign_requests = [], []

    def tab(self, *init_scripts):
        page = self.context.new_page()
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        page.on("request", self._request)
        for script in init_scripts:
            page.add_init_script(script)
        return page

    def open(self, path, *init_scripts):
        """A new tab at `path`."""
        page = self.tab(*init_scripts)
        self.go(page, path)
        return page

    def go(self, page, path):
        page.goto(self.base + "/" + path.lstrip("/"))

    def _request(self, request):
        if not request.url.startswith(self.base + "/"):
            self.foreign_requests.append(request.url)

    def assert_clean(self):
        assert self.errors == []
        assert self.foreign_requests == []


@pytest.fixture
def visitor(browser, site):
    context = browser.new_context()
    v = Visitor(context, site)
    yield v
    context.close()
    v.assert_clean()


def state(page):
    return page.evaluate(STATE)


def metadata(page):
    return page.evaluate("() => window.affilut.metadata()")


def assert_remembered(page, ref, sess=None, days=60):
    """Both stores and metadata() hold the click (ref, sess) with `days` left in the window."""
    s = state(page)
    assert s["session"] == {"aff_ref": ref, "aff_sess": sess}
    expected = {"affiliate_id": ref}
    if sess:
        expected["affiliate_session_id"] = sess
    assert s["metadata"] == expected
    assert s["local"]["ref"] == ref and s["local"].get("sess") == sess
    assert days * DAY_MS - 60_000 <= s["local"]["expires"] - s["now"] <= days * DAY_MS


def assert_forgotten(page):
    s = state(page)
    assert s["metadata"] == {}
    assert s["session"] == {"aff_ref": None, "aff_sess": None}
    assert s["local"] is None


def checkout_shows(page):
    return page.locator("#ref").text_content(), page.locator("#sess").text_content()


def test_landing_keeps_the_click_in_both_stores(visitor):
    page = visitor.open("landing.html?utm_source=blog&ref=aff_01jdx7k2m9&aff_sess=clk_01jdy3p8q4")
    assert_remembered(page, "aff_01jdx7k2m9", "clk_01jdy3p8q4")
    visitor.assert_clean()


def test_short_code_ref_is_kept(visitor):
    page = visitor.open("landing.html?ref=jane-smith-a1b2&aff_sess=clk_01jdy3p8q4")
    assert metadata(page) == {"affiliate_id": "jane-smith-a1b2", "affiliate_session_id": "clk_01jdy3p8q4"}


def test_browsing_the_site_keeps_the_click(visitor):
    page = visitor.open("landing.html?ref=aff_01jdx7k2m9&aff_sess=clk_01jdy3p8q4")
    visitor.go(page, "other.html")
    assert_remembered(page, "aff_01jdx7k2m9", "clk_01jdy3p8q4")
    visitor.go(page, "checkout.html")
    assert checkout_shows(page) == ("aff_01jdx7k2m9", "clk_01jdy3p8q4")
    assert metadata(page) == {"affiliate_id": "aff_01jdx7k2m9", "affiliate_session_id": "clk_01jdy3p8q4"}
    visitor.assert_clean()


def test_new_tab_gets_the_click_back(visitor):
    visitor.open("landing.html?ref=aff_01jdx7k2m9&aff_sess=clk_01jdy3p8q4").close()
    page = visitor.open("checkout.html", "window.sessionAtStart = sessionStorage.length;")
    assert page.evaluate("() => window.sessionAtStart") == 0  # a new tab starts with its own, empty store
    # The reference's sessionStorage-reading checkout code works in the new tab too.
    assert checkout_shows(page) == ("aff_01jdx7k2m9", "clk_01jdy3p8q4")
    assert_remembered(page, "aff_01jdx7k2m9", "clk_01jdy3p8q4")
    visitor.assert_clean()


def test_click_expires_after_the_attribution_window(visitor):
    visitor.open("landing.html?ref=aff_01jdx7k2m9&aff_sess=clk_01jdy3p8q4")
    later = visitor.open("checkout.html", time_shift(59 * DAY_MS))
    assert checkout_shows(later) == ("aff_01jdx7k2m9", "clk_01jdy3p8q4")
    too_late = visitor.open("checkout.html", time_shift(61 * DAY_MS))
    assert checkout_shows(too_late) == ("", "")
    assert_forgotten(too_late)  # and the expired entry is gone from localStorage
    visitor.assert_clean()


def test_window_comes_from_the_script_tag(visitor):
    page = visitor.open("week.html?ref=aff_01jdx7k2m9&aff_sess=clk_01jdy3p8q4")
    assert_remembered(page, "aff_01jdx7k2m9", "clk_01jdy3p8q4", days=7)
    assert metadata(visitor.open("other.html", time_shift(6 * DAY_MS)))["affiliate_id"] == "aff_01jdx7k2m9"
    assert metadata(visitor.open("other.html", time_shift(8 * DAY_MS))) == {}
    visitor.assert_clean()


def test_attribution_days_are_checked(visitor):
    """1..3650 whole days are taken as given; anything else falls back to 60."""
    expected = {"none": 60, "empty": 60, "zero": 60, "negative": 60, "fraction": 60, "word": 60,
                "too-many": 60, "huge": 60, "one": 1, "max": 3650, "spaced": 30}
    assert expected.keys() == DAYS_PAGES.keys()
    page = visitor.tab()
    for label, days in expected.items():
        visitor.go(page, f"days-{label}.html?ref=aff_{label.replace('-', '_')}")
        assert_remembered(page, f"aff_{label.replace('-', '_')}", days=days)
    visitor.assert_clean()


def test_async_script_tag_reads_its_window(visitor):
    page = visitor.open("async.html?ref=aff_01jdx7k2m9&aff_sess=clk_01jdy3p8q4")
    page.wait_for_function("() => window.affilut && window.affilut.metadata")
    assert_remembered(page, "aff_01jdx7k2m9", "clk_01jdy3p8q4", days=3)


def test_a_tab_kept_past_the_window_forgets_the_click(visitor):
    page = visitor.open("landing.html?ref=aff_01jdx7k2m9&aff_sess=clk_01jdy3p8q4")
    page.add_init_script(time_shift(61 * DAY_MS))
    visitor.go(page, "checkout.html")
    assert checkout_shows(page) == ("", "")
    assert_forgotten(page)
    visitor.assert_clean()


def test_stored_entry_already_expired_is_removed(visitor):
    page = visitor.open("other.html")
    page.evaluate("""() => localStorage.setItem('affilut', JSON.stringify(
        {ref: 'aff_old', sess: 'clk_old', expires: Date.now() - 1000}))""")
    assert metadata(page) == {}
    assert page.evaluate("() => localStorage.getItem('affilut')") is None
    assert_forgotten(visitor.open("checkout.html"))
    visitor.assert_clean()


@pytest.mark.parametrize("junk", ["not json", "null", "42", '{"ref": "aff_x"}', '{"ref": "<b>", "expires": 9e15}',
                                  '{"ref": "aff_x", "expires": "9999999999999"}'])
def test_broken_stored_entry_is_ignored(visitor, junk):
    page = visitor.open("other.html")
    page.evaluate("junk => localStorage.setItem('affilut', junk)", junk)
    fresh = visitor.open("checkout.html")
    assert checkout_shows(fresh) == ("", "")
    assert_forgotten(fresh)


def test_latest_click_wins(visitor):
    page = visitor.open("landing.html?ref=aff_first&aff_sess=clk_first")
    visitor.go(page, "landing.html?ref=aff_second&aff_sess=clk_second")
    assert_remembered(page, "aff_second", "clk_second")
    assert metadata(visitor.open("other.html")) == {"affiliate_id": "aff_second", "affiliate_session_id": "clk_second"}

    # A click without a session id never inherits the previous one's.
    visitor.go(page, "landing.html?ref=aff_third")
    assert_remembered(page, "aff_third")
    new_tab = visitor.open("checkout.html")
    assert checkout_shows(new_tab) == ("aff_third", "")
    assert metadata(new_tab) == {"affiliate_id": "aff_third"}
    visitor.assert_clean()


def test_click_in_another_tab_reaches_later_tabs(visitor):
    first = visitor.open("landing.html?ref=aff_first&aff_sess=clk_first")
    visitor.open("landing.html?ref=aff_second&aff_sess=clk_second")
    assert metadata(visitor.open("other.html")) == {"affiliate_id": "aff_second", "affiliate_session_id": "clk_second"}
    # The first tab keeps its own click, as the reference's per-tab sessionStorage does.
    assert metadata(first) == {"affiliate_id": "aff_first", "affiliate_session_id": "clk_first"}


def test_metadata_is_read_live(visitor):
    page = visitor.open("landing.html?ref=aff_01jdx7k2m9&aff_sess=clk_01jdy3p8q4")
    page.evaluate("() => { sessionStorage.clear(); localStorage.clear(); }")  # e.g. the shop clears it after a sale
    assert metadata(page) == {}
    page.evaluate("""() => localStorage.setItem('affilut', JSON.stringify(
        {ref: 'aff_other', expires: Date.now() + 60000}))""")
    assert metadata(page) == {"affiliate_id": "aff_other"}
    assert page.evaluate("() => window.affilut.metadata() !== window.affilut.metadata()")  # a fresh object


@pytest.mark.parametrize("path", ["landing.html?ref=aff_01jdx7k2m9&aff_sess=clk_01jdy3p8q4", "other.html"])
def test_blocked_storage_never_breaks_the_page(visitor, path):
    page = visitor.open(path, BLOCK_STORAGE)
    assert page.evaluate("() => { try { localStorage; return false; } catch (e) { return e.name; } }") == "SecurityError"
    expected = {"affiliate_id": "aff_01jdx7k2m9", "affiliate_session_id": "clk_01jdy3p8q4"} if "ref" in path else {}
    assert metadata(page) == expected  # the click in the URL is still known on its own page
    visitor.go(page, "other.html")
    assert metadata(page) == {}
    visitor.assert_clean()


def test_blocked_local_storage_still_uses_session_storage(visitor):
    page = visitor.open("landing.html?ref=aff_01jdx7k2m9&aff_sess=clk_01jdy3p8q4", BLOCK_LOCAL_STORAGE)
    visitor.go(page, "checkout.html")
    assert checkout_shows(page) == ("aff_01jdx7k2m9", "clk_01jdy3p8q4")
    assert metadata(page) == {"affiliate_id": "aff_01jdx7k2m9", "affiliate_session_id": "clk_01jdy3p8q4"}
    visitor.assert_clean()


def test_full_storage_never_breaks_the_page(visitor):
    page = visitor.open("landing.html?ref=aff_01jdx7k2m9&aff_sess=clk_01jdy3p8q4", FULL_STORAGE)
    assert metadata(page) == {"affiliate_id": "aff_01jdx7k2m9", "affiliate_session_id": "clk_01jdy3p8q4"}
    assert page.evaluate("() => [sessionStorage.length, localStorage.length]") == [0, 0]
    visitor.assert_clean()


def test_works_without_url_search_params(visitor):
    page = visitor.open("landing.html?x=1&ref=aff%5F01jdx7k2m9&aff_sess=clk_01jdy3p8q4&ref=aff_later",
                        "delete window.URLSearchParams;")
    assert page.evaluate("() => typeof URLSearchParams") == "undefined"
    assert_remembered(page, "aff_01jdx7k2m9", "clk_01jdy3p8q4")  # the first ref, as URLSearchParams.get gives
    visitor.assert_clean()


def test_nothing_stored_means_empty_metadata(visitor):
    page = visitor.open("landing.html")
    assert page.evaluate("() => typeof window.affilut.metadata") == "function"
    assert_forgotten(page)
    assert page.evaluate("() => [sessionStorage.length, localStorage.length]") == [0, 0]
    visitor.go(page, "checkout.html?utm_source=newsletter")
    assert checkout_shows(page) == ("", "")
    assert_forgotten(page)
    visitor.assert_clean()


def test_included_twice(visitor):
    page = visitor.open("twice.html?ref=aff_01jdx7k2m9&aff_sess=clk_01jdy3p8q4")
    assert_remembered(page, "aff_01jdx7k2m9", "clk_01jdy3p8q4")
    visitor.go(page, "twice.html")
    assert_remembered(page, "aff_01jdx7k2m9", "clk_01jdy3p8q4")
    visitor.assert_clean()


@pytest.mark.parametrize("query", [
    "ref=<script>alert(1)</script>&aff_sess=clk_01jdy3p8q4",
    "ref=%3Cimg%20src%3Dx%3E",
    "ref=jane%20smith",
    "ref=aff_%C3%A9t%C3%A9",
    "ref=" + "a" * 201,
    "ref=&aff_sess=clk_01jdy3p8q4",
    "aff_sess=clk_01jdy3p8q4",
    "ref=%E0%A4%A",
])
def test_invalid_values_are_ignored(visitor, query):
    page = visitor.open("landing.html?" + query)
    assert_forgotten(page)
    # ...and they do not replace an earlier, valid click either.
    visitor.go(page, "landing.html?ref=aff_01jdx7k2m9&aff_sess=clk_01jdy3p8q4")
    visitor.go(page, "landing.html?" + query)
    assert_remembered(page, "aff_01jdx7k2m9", "clk_01jdy3p8q4")
    assert page.evaluate("() => document.querySelector('img') === null")


def test_invalid_session_id_is_dropped_but_ref_kept(visitor):
    page = visitor.open("landing.html?ref=aff_01jdx7k2m9&aff_sess=clk_old")
    visitor.go(page, "landing.html?ref=aff_new&aff_sess=%22%3E%3Cscript%3E")
    assert_remembered(page, "aff_new")


def test_longest_allowed_value_is_kept(visitor):
    ref = "aff_" + "x" * 196
    page = visitor.open(f"landing.html?ref={ref}&aff_sess=clk_01jdy3p8q4")
    assert_remembered(page, ref, "clk_01jdy3p8q4")


def test_stored_values_are_checked_too(visitor):
    page = visitor.open("other.html")
    page.evaluate("""() => { sessionStorage.setItem('aff_ref', '<b>x</b>');
                             localStorage.setItem('affilut', JSON.stringify(
                               {ref: 'aff_ok', sess: 'bad value', expires: Date.now() + 60000})); }""")
    assert metadata(page) == {"affiliate_id": "aff_ok"}
    json.dumps(metadata(page))  # plain data, safe to send as payment metadata
