% rebase("layout", title="Payouts", page=page)
<div class="heading-row">
  <h1>Payouts</h1>
  <span class="muted">Minimum payout {{money(page.account["payout_minimum_cents"])}} · <a href="/dashboard/settings">change</a></span>
</div>
<h2>Owed now</h2>
<p class="muted">Approved commission not yet paid, refund adjustments netted. Pay the affiliates (for example with a PayPal bulk upload), then mark them paid.</p>
% if due:
<div class="table-wrap"><table class="cards owed-table">
  <thead><tr><th>Affiliate</th><th>Pay to</th><th class="num hide-phone">Conversions</th><th class="num">Owed</th><th></th></tr></thead>
  <tbody>
  % for item in due:
  <tr>
    <td><a href="/dashboard/affiliates/{{item['affiliate_id']}}">{{item["name"]}}</a>
      % if item["status"] != "active":
      <span class="badge badge-{{item['status']}}">{{item["status"]}}</span>
      % end
    </td>
    <td data-label="Pay to">{{item["paid_to"]}}</td>
    <td class="num hide-phone">{{item["count"]}}</td>
    <td class="num" data-label="Owed">{{money(item["amount_cents"], item["currency"])}}</td>
    <td>
      % if item["eligible"]:
      <form method="post" action="/dashboard/payouts" class="inline">
        <input type="hidden" name="csrf" value="{{page.csrf}}">
        <input type="hidden" name="item" value="{{item['affiliate_id']}}:{{item['currency']}}:{{item['digest']}}">
        <button class="small">Mark paid</button>
      </form>
      % else:
      <span class="hint">below minimum</span>
      % end
    </td>
  </tr>
  % end
  </tbody>
</table></div>
% if not first or next_after:
<nav class="pager" aria-label="Pages">
  % if not first:
  <a href="/dashboard/payouts">← First page</a>
  % end
  % if next_after:
  <a href="/dashboard/payouts?after={{next_after}}">Next →</a>
  % end
</nav>
% end
% if any(item["eligible"] for item in due):
<div class="card">
  <form method="post" action="/dashboard/payouts" class="grid-form" data-confirm="Record a payout for every affiliate over the minimum?">
    <input type="hidden" name="csrf" value="{{page.csrf}}">
    % for item in due:
    % if item["eligible"]:
    <input type="hidden" name="item" value="{{item['affiliate_id']}}:{{item['currency']}}:{{item['digest']}}">
    % end
    % end
    <label>Note <span class="hint">optional, e.g. the PayPal batch id</span><input name="note" maxlength="500"></label>
    <button type="submit">Mark all over the minimum{{"" if first and not next_after else " on this page"}} paid</button>
  </form>
</div>
% end
% if currencies:
<div class="card">
  <p class="downloads">Download what is owed:
    % for currency in currencies:
    <a href="/dashboard/payouts/due.csv?format=paypal&amp;currency={{currency}}" download>PayPal Payouts CSV ({{currency.upper()}})</a> ·
    % end
    <a href="/dashboard/payouts/due.csv?format=generic" download>Generic CSV</a></p>
</div>
% end
% else:
<p class="muted">Nobody is owed anything right now.</p>
% end
<div class="heading-row">
  <h2 id="history">History</h2>
  <a class="button secondary" href="/dashboard/payouts/history.csv" download>Export CSV</a>
</div>
% include("_payout_table", rows=history, show_affiliate=True)
% if not newest or older:
<nav class="pager" aria-label="Payout history pages">
  % if not newest:
  <a href="/dashboard/payouts#history">← Newest payouts</a>
  % end
  % if older:
  <a href="/dashboard/payouts?before={{older}}#history">Older payouts →</a>
  % end
</nav>
% end
