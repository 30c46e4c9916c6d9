% rebase("layout", title="Conversions", page=page)
<div class="heading-row">
  <h1>Conversions</h1>
  <a class="button secondary" href="/dashboard/conversions.csv{{'?' + query if query else ''}}" download>Export CSV</a>
</div>
% include("_error", error=error)
<details class="card"{{!' open' if error else ''}}>
  <summary>Record a manual conversion</summary>
  <form method="post" action="/dashboard/conversions/new" class="grid-form">
    <input type="hidden" name="csrf" value="{{page.csrf}}">
    <label>Affiliate <span class="hint">type a name or email, then pick</span>
      <input name="affiliate_id" required list="affiliate-suggestions" data-suggest="/dashboard/affiliates/suggest" autocomplete="off" value="{{form.get('affiliate_id', '')}}"></label>
    <label>Sale amount <input name="amount" inputmode="decimal" required placeholder="49.00" value="{{form.get('amount', '')}}"></label>
    <label>External id <span class="hint">optional: an order number, makes it unique</span><input name="external_id" maxlength="255" value="{{form.get('external_id', '')}}"></label>
    <button type="submit">Record conversion</button>
  </form>
</details>
<form method="get" class="filters">
  <label>Status
    <select name="status">
      <option value="">All</option>
      % for s in ("pending", "approved", "paid", "rejected"):
      <option value="{{s}}"{{!' selected' if chosen.get('status') == s else ''}}>{{s.capitalize()}}</option>
      % end
    </select>
  </label>
  <label>Affiliate <span class="hint">{{chosen_name or "all; type a name or email to pick one"}}</span>
    <input name="affiliate_id" list="affiliate-suggestions" data-suggest="/dashboard/affiliates/suggest" autocomplete="off" value="{{typed}}"></label>
  <label>From <input type="date" name="from" value="{{chosen.get('from', '')}}"></label>
  <label>To <input type="date" name="to" value="{{chosen.get('to', '')}}"></label>
  <label class="check"><input type="checkbox" name="test" value="1"{{!' checked' if chosen.get('test') else ''}}> Test data</label>
  <button type="submit" class="secondary">Filter</button>
</form>
% if chosen.get("test"):
<p class="callout test-data"><strong>Test data.</strong> These conversions came from Stripe's test mode (events with livemode: false). They are not real money: they never count in the overview, the hold period, payouts or the live export. <a href="/dashboard/conversions">Back to live data</a></p>
% end
<datalist id="affiliate-suggestions"></datalist>
<form method="post" action="/dashboard/conversions/status" class="bulk">
  <input type="hidden" name="csrf" value="{{page.csrf}}">
  <input type="hidden" name="back" value="/dashboard/conversions{{'?' + back_query if back_query else ''}}">
  % if rows:
  <div class="bulk-bar">
    <label class="check"><input type="checkbox" data-check-all="id"> All on this page</label>
    <span class="hint">Each action changes only the ticked conversions whose status allows it.</span>
    <label>Reason <span class="hint">for rejections</span><input name="reason" maxlength="500"></label>
    <button name="action" value="approve" class="small">Approve selected</button>
    <button name="action" value="reject" class="small secondary">Reject selected</button>
    <button name="action" value="pay" class="small secondary">Mark selected paid</button>
  </div>
  % end
  % include("_conversion_table", rows=rows, names=names)
</form>
% include("_pager", pager_query=query, pager_path="/dashboard/conversions")
