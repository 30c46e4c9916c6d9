% rebase("layout", title="Notifications", page=page)
<h1>Settings</h1>
% include("_settings_tabs")
<div class="card">
  <h2>Email</h2>
  % if mode == "smtp":
  <p>Email is sent through the SMTP server in <code>AFFILUT_SMTP_URL</code>.</p>
  % elif mode == "print":
  <p>Email is written to the server's log (<code>serve --print-mail</code>), not sent.</p>
  % else:
  <p>Email is not configured: set <code>AFFILUT_SMTP_URL</code> and <code>AFFILUT_MAIL_FROM</code> and restart. Until then emails wait here and nothing is lost.</p>
  % end
  <form method="post" action="/dashboard/settings/notifications" class="filters">
    <input type="hidden" name="csrf" value="{{page.csrf}}">
    <label class="check"><input type="checkbox" name="daily_digest" value="1"{{!' checked' if digest else ''}}> Email me a daily digest of the day's conversions</label>
    <button type="submit" class="secondary">Save</button>
  </form>
</div>
<h2>Emails</h2>
% if emails:
<div class="table-wrap"><table>
  <thead><tr><th>Queued (UTC)</th><th>To</th><th>Subject</th><th>Status</th><th>Attempts</th><th>Last error</th></tr></thead>
  <tbody>
  % for row in emails:
  <tr><td>{{when(row["created_at"])}}</td><td>{{row["recipient"]}}</td><td>{{row["subject"]}}</td>
    <td>{{"waiting" if row["status"] == "pending" else row["status"]}}{{" " + when(row["sent_at"]) if row["sent_at"] else ""}}</td>
    <td>{{row["attempts"]}}</td><td>{{row["last_error"] or ""}}</td></tr>
  % end
  </tbody>
</table></div>
% else:
<p class="muted">No emails yet.</p>
% end
