% rebase("layout", title="Team", page=page)
<h1>Settings</h1>
% include("_settings_tabs")
% include("_error", error=error)
% if invite_link:
<div class="card highlight">
  <h2>Invite link</h2>
  <p>Send this to your colleague to choose a password. It works once, for seven days, and is not shown again.</p>
  % include("_copy", copy_id="invite-link", copy_value=invite_link, copy_label="Team invite link")
</div>
% end
<form method="post" action="/dashboard/settings/team" class="card filters">
  <input type="hidden" name="csrf" value="{{page.csrf}}">
  <label>Colleague's email <input name="email" type="email" required></label>
  <label>Role <select name="role">
    <option value="member" selected>member: runs affiliates, conversions and payouts</option>
    <option value="owner">owner: also the webhook secret, API keys and the team</option>
  </select></label>
  <label class="check"><input type="checkbox" name="send_email" value="1" checked> Email them the link</label>
  <button type="submit">Invite</button>
</form>
<div class="table-wrap"><table>
  <thead><tr><th>Email</th><th>Role</th><th>Added</th><th>Last sign-in</th><th></th></tr></thead>
  <tbody>
  % for user in users:
  <tr><td>{{user["email"]}}</td><td>{{user["role"]}}</td><td>{{day(user["created_at"])}}</td>
    <td>{{when(user["last_login_at"]) if user["last_login_at"] else ("invited" if not user["password_hash"] else "never")}}</td>
    <td>
      % if user["id"] != page.user["id"]:
      <form method="post" action="/dashboard/settings/team/{{user['id']}}/remove" class="inline" data-confirm="Remove this user?">
        <input type="hidden" name="csrf" value="{{page.csrf}}">
        <button class="small danger">Remove</button>
      </form>
      % else:
      <span class="hint">you</span>
      % end
    </td></tr>
  % end
  </tbody>
</table></div>
