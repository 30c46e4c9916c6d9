% rebase("layout", title="Affiliates", page=page)
% import urllib.parse
<div class="heading-row">
  <h1>Affiliates</h1>
  <a class="button secondary" href="/join/{{page.account['id']}}">Public sign-up page</a>
</div>
% if invite_link:
<div class="card highlight">
  <h2>{{created["name"]}} was added</h2>
  <p>Send them this link to choose a portal password. It works once, for seven days, and is not shown again.</p>
  % include("_copy", copy_id="invite-link", copy_value=invite_link, copy_label="Portal invite link")
  <p><a href="/dashboard/affiliates/{{created['id']}}">Open {{created["name"]}}</a></p>
</div>
% end
<details class="card"{{!' open' if error else ''}}>
  <summary>Add an affiliate</summary>
  % include("_error", error=error)
  <form method="post" action="/dashboard/affiliates" class="grid-form">
    <input type="hidden" name="csrf" value="{{page.csrf}}">
    <label>Name <input name="name" required maxlength="200" value="{{form.get('name', '')}}"></label>
    <label>Email <input name="email" type="email" required value="{{form.get('email', '')}}"></label>
    <label>Commission override (%) <span class="hint">blank: the program's {{page.account["default_commission"]}}%</span>
      <input name="commission_override" inputmode="decimal" value="{{form.get('commission_override', '')}}"></label>
    <label>Status
      <select name="status">
        <option value="active">Active: the link earns at once</option>
        <option value="pending"{{!' selected' if form.get('status') == 'pending' else ''}}>Pending: approve later</option>
      </select>
    </label>
    <label class="check"><input type="checkbox" name="invite" value="1"{{!' checked' if form.get('invite') else ''}}> Create a portal invite link</label>
    <label class="check"><input type="checkbox" name="send_email" value="1"{{!' checked' if form.get('send_email') else ''}}> and email it to them</label>
    <button type="submit">Add affiliate</button>
  </form>
</details>
<form method="get" class="filters" role="search">
  <label>Search <input name="q" type="search" value="{{q}}" placeholder="Name, email or code"></label>
  <label>Status
    <select name="status">
      <option value="">All</option>
      % for s in ("pending", "active", "paused", "banned"):
      <option value="{{s}}"{{!' selected' if s == status else ''}}>{{s.capitalize()}}</option>
      % end
    </select>
  </label>
  <button type="submit" class="secondary">Filter</button>
</form>
% if rows:
<div class="table-wrap"><table>
  <thead><tr><th>Name</th><th class="hide-phone">Email</th><th>Status</th><th class="hide-phone">Commission</th><th class="hide-phone">Joined</th><th></th></tr></thead>
  <tbody>
  % for row in rows:
  <tr>
    <td><a href="/dashboard/affiliates/{{row['id']}}">{{row["name"]}}</a></td>
    <td class="hide-phone">{{row["email"]}}</td>
    <td><span class="badge badge-{{row['status']}}">{{row["status"]}}</span></td>
    <td class="hide-phone">{{row["commission_override"] + "%" if row["commission_override"] else "default"}}</td>
    <td class="hide-phone">{{day(row["created_at"])}}</td>
    <td>
      % if row["status"] == "pending":
      <form method="post" action="/dashboard/affiliates/{{row['id']}}/status" class="inline">
        <input type="hidden" name="csrf" value="{{page.csrf}}">
        <input type="hidden" name="back" value="/dashboard/affiliates?{{urllib.parse.urlencode({'q': q, 'status': status})}}">
        <button name="action" value="approve" class="small">Approve</button>
      </form>
      % end
    </td>
  </tr>
  % end
  </tbody>
</table></div>
% include("_pager", pager_path="/dashboard/affiliates", pager_query=urllib.parse.urlencode({k: v for k, v in (("q", q), ("status", status)) if v}))
% else:
<p class="muted">No affiliates{{" match" if q or status else " yet"}}.</p>
% end
