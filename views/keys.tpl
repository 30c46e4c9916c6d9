% rebase("layout", title="API keys", page=page)
<h1>Settings</h1>
% include("_settings_tabs")
% include("_error", error=error)
% if created:
<div class="card highlight">
  <h2>Your new API key</h2>
  <p>Copy it now: it is stored only as a hash and is not shown again.</p>
  % include("_copy", copy_id="new-key", copy_value=created, copy_label="New API key")
</div>
% end
<form method="post" action="/dashboard/settings/keys" class="card filters">
  <input type="hidden" name="csrf" value="{{page.csrf}}">
  <label>Label <span class="hint">what uses this key</span><input name="name" maxlength="200" placeholder="e.g. billing backend"></label>
  <button type="submit">Create API key</button>
</form>
% if keys:
<div class="table-wrap"><table>
  <thead><tr><th>Label</th><th>Key</th><th>Created (UTC)</th><th>Last used</th><th></th></tr></thead>
  <tbody>
  % for key in keys:
  <tr{{!' class="revoked"' if key['revoked_at'] else ''}}>
    <td>{{key["name"] or "—"}}</td><td class="mono">{{key["prefix"]}}…</td>
    <td>{{when(key["created_at"])}}</td><td>{{when(key["last_used_at"]) if key["last_used_at"] else "never"}}</td>
    <td>
      % if key["revoked_at"]:
      <span class="hint">revoked {{day(key["revoked_at"])}}</span>
      % else:
      <form method="post" action="/dashboard/settings/keys/{{key['id']}}/revoke" class="inline" data-confirm="Revoke this key? Anything using it stops working.">
        <input type="hidden" name="csrf" value="{{page.csrf}}">
        <button class="small danger">Revoke</button>
      </form>
      % end
    </td>
  </tr>
  % end
  </tbody>
</table></div>
% else:
<p class="muted">No API keys yet.</p>
% end
