% rebase("layout", title="Your affiliate account", page=page)
<h1>Hello, {{affiliate["name"]}}</h1>
% if affiliate["status"] == "pending":
<p class="callout">Your application is waiting for approval. Your link starts earning once {{page.account["name"]}} approves you.</p>
% elif affiliate["status"] in ("paused", "banned"):
<p class="callout warn">Your account is {{affiliate["status"]}}: your link earns nothing for now.
  % if affiliate["status_reason"]:
  Reason: {{affiliate["status_reason"]}}
  % end
</p>
% end
% include("_error", error=error)
<div class="card">
  <h2>Your link</h2>
  % include("_copy", copy_id="my-link", copy_value=link, copy_label="Your referral link")
  <form method="get" action="/portal" class="link-builder">
    <label>Link to a specific page <span class="hint">a path or address on {{page.account["landing_url"] or "the shop's site"}}</span>
      <input name="to" value="{{to}}" placeholder="/pricing" data-link-builder="{{link}}" data-output="built-link"></label>
    <button type="submit" class="secondary">Build link</button>
  </form>
  <div class="copy-row">
    <input id="built-link" class="mono" readonly value="{{built}}" aria-label="Built link" placeholder="Your link to that page appears here">
    <button type="button" class="secondary" data-copy="built-link">Copy</button>
  </div>
</div>
<h2>Last 30 days</h2>
% include("_stats", stats=recent)
<h2>All time</h2>
% include("_stats", stats=total)
% include("_earnings", earnings=earnings)
<h2>Recent conversions</h2>
% include("_conversion_table", rows=conversions, names=None)
<h2>Payouts received</h2>
% include("_payout_table", rows=payouts, show_affiliate=False)
<div class="card">
  <h2>Payout email</h2>
  <form method="post" action="/portal/payout-email" class="filters">
    <input type="hidden" name="csrf" value="{{page.csrf}}">
    <label>PayPal or payout email <input name="payout_email" type="email" required value="{{affiliate['payout_email'] or ''}}" placeholder="{{affiliate['email']}}"></label>
    <button type="submit">Save</button>
  </form>
  <p class="muted">{{"Payouts go to " + (affiliate["payout_email"] or affiliate["email"]) + "."}}</p>
</div>
<div class="card">
  <h2>Emails</h2>
  <form method="post" action="/portal/notifications" class="filters">
    <input type="hidden" name="csrf" value="{{page.csrf}}">
    <label class="check"><input type="checkbox" name="new_commission" value="1"{{!' checked' if commission_emails else ''}}> Email me each new commission</label>
    <button type="submit" class="secondary">Save</button>
  </form>
</div>
