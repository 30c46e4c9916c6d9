% rebase("layout", title="Webhooks", page=page)
<h1>Settings</h1>
% include("_settings_tabs")
% include("_error", error=error)
% if created:
<div class="card highlight">
  <h2>Your endpoint's signing secret</h2>
  <p>Copy it now: it is not shown again. Verify the <code>Affilut-Signature</code> header of each delivery with it (the README shows how).</p>
  % include("_copy", copy_id="new-secret", copy_value=created[1], copy_label="Signing secret")
</div>
% end
<form method="post" action="/dashboard/settings/webhooks" class="card stack">
  <input type="hidden" name="csrf" value="{{page.csrf}}">
  <h2>Add an endpoint</h2>
  <label>URL <span class="hint">https:// only</span><input name="url" type="url" required maxlength="2000" placeholder="https://example.com/affilut-events" value="{{form.get('url', '') if error else ''}}"></label>
  <fieldset><legend>Events</legend>
  % for name in events:
    <label class="check"><input type="checkbox" name="events" value="{{name}}" checked> {{name}}</label>
  % end
  </fieldset>
  <button type="submit">Add endpoint</button>
</form>
% for endpoint in endpoints:
<div class="card endpoint">
  <h2 class="mono">{{endpoint["url"]}}</h2>
  <p>{{", ".join(subscribed[endpoint["id"]])}} ·
  % if endpoint["disabled_at"]:
    <strong>disabled</strong> {{when(endpoint["disabled_at"])}}: {{endpoint["disabled_reason"]}}
  % else:
    enabled
  % end
  </p>
  <form method="post" action="/dashboard/settings/webhooks/{{endpoint['id']}}/{{'enable' if endpoint['disabled_at'] else 'disable'}}" class="inline">
    <input type="hidden" name="csrf" value="{{page.csrf}}">
    <button class="small secondary">{{"Enable" if endpoint["disabled_at"] else "Disable"}}</button>
  </form>
  <form method="post" action="/dashboard/settings/webhooks/{{endpoint['id']}}/delete" class="inline" data-confirm="Delete this endpoint? Nothing more is sent to it.">
    <input type="hidden" name="csrf" value="{{page.csrf}}">
    <button class="small danger">Delete</button>
  </form>
  % if deliveries[endpoint["id"]]:
  <div class="table-wrap"><table>
    <thead><tr><th>Event</th><th>Type</th><th>Status</th><th>Response</th><th>Time (UTC)</th><th></th></tr></thead>
    <tbody>
    % for d in deliveries[endpoint["id"]]:
    <tr><td class="mono">{{d["event_id"]}}</td><td>{{d["topic"]}}</td>
      <td>{{"retrying" if d["status"] == "pending" and d["attempts"] else d["status"]}}</td>
      <td>{{d["response_code"] or (d["last_error"] or "—")}}</td><td>{{when(d["attempted_at"] or d["created_at"])}}</td>
      <td>
        % if not endpoint["disabled_at"]:
        <form method="post" action="/dashboard/settings/webhooks/deliveries/{{d['id']}}/resend" class="inline">
          <input type="hidden" name="csrf" value="{{page.csrf}}">
          <button class="small secondary">Resend</button>
        </form>
        % end
      </td></tr>
    % end
    </tbody>
  </table></div>
  % else:
  <p class="muted">No deliveries yet.</p>
  % end
</div>
% end
