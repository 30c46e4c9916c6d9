% rebase("layout", title=affiliate["name"], page=page)
<p class="crumbs"><a href="/dashboard/affiliates">Affiliates</a></p>
<div class="title-row">
  <h1>{{affiliate["name"]}}</h1>
  % include("_badge", status=affiliate["status"])
</div>
<p class="muted">{{affiliate["email"]}}{{" · payouts to " + affiliate["payout_email"] if affiliate["payout_email"] else ""}} · joined {{day(affiliate["created_at"])}}</p>
% if affiliate["status_reason"]:
<p class="callout">Reason: {{affiliate["status_reason"]}}</p>
% end
% include("_error", error=error)
% if invite_link:
<div class="card highlight">
  <h2>Portal invite link</h2>
  <p>Send this to {{affiliate["name"]}}. It works once, for seven days, and is not shown again.</p>
  % include("_copy", copy_id="invite-link", copy_value=invite_link, copy_label="Portal invite link")
</div>
% end
<div class="card">
  <h2>Referral link</h2>
  % include("_copy", copy_id="aff-link", copy_value=page.base + "/r/" + affiliate["short_code"], copy_label="Referral link")
  % if affiliate["status"] != "active":
  <p class="muted">This link earns nothing while the affiliate is {{affiliate["status"]}}.</p>
  % end
</div>
<div class="columns">
  <div class="card">
    <h2>Status</h2>
    <form method="post" action="/dashboard/affiliates/{{affiliate['id']}}/status" class="stack">
      <input type="hidden" name="csrf" value="{{page.csrf}}">
      % if affiliate["status"] in ("active", "pending"):
      <label>Reason for a pause or ban <span class="hint">shown to the affiliate</span><input name="reason" maxlength="500"></label>
      % end
      <div class="buttons">
        % if affiliate["status"] == "pending":
        <button name="action" value="approve">Approve</button>
        % end
        % if affiliate["status"] in ("paused", "banned"):
        <button name="action" value="reactivate">Reactivate</button>
        % end
        % if affiliate["status"] == "active":
        <button name="action" value="pause" class="secondary">Pause</button>
        % end
        % if affiliate["status"] != "banned":
        <button name="action" value="ban" class="danger">Ban</button>
        % end
      </div>
    </form>
  </div>
  <div class="card">
    <h2>Commission</h2>
    <form method="post" action="/dashboard/affiliates/{{affiliate['id']}}/commission" class="stack">
      <input type="hidden" name="csrf" value="{{page.csrf}}">
      <label>Override (%) <span class="hint">blank: the program's {{page.account["default_commission"]}}%</span>
        <input name="commission_override" inputmode="decimal" value="{{affiliate['commission_override'] or ''}}"></label>
      <button type="submit" class="secondary">Save commission</button>
    </form>
  </div>
  <div class="card">
    <h2>Portal</h2>
    <p class="muted">{{"Has a portal password." if has_login else "Has not set a portal password yet."}}</p>
    <form method="post" action="/dashboard/affiliates/{{affiliate['id']}}/invite">
      <input type="hidden" name="csrf" value="{{page.csrf}}">
      <label class="check"><input type="checkbox" name="send_email" value="1"> Email it to {{affiliate["email"]}}</label>
      <button type="submit" class="secondary">Create portal invite link</button>
    </form>
  </div>
</div>
<h2>Last 30 days</h2>
% include("_stats", stats=recent)
<h2>All time</h2>
% include("_stats", stats=total)
% include("_earnings", earnings=earnings)
<h2>Recent conversions</h2>
% include("_conversion_table", rows=conversions, names=None)
<p><a href="/dashboard/conversions?affiliate_id={{affiliate['id']}}">All of {{affiliate["name"]}}'s conversions</a></p>
<h2>Payouts</h2>
% include("_payout_table", rows=payouts, show_affiliate=False)
