% rebase("layout", title="Settings", page=page)
<h1>Settings</h1>
% include("_settings_tabs")
% include("_error", error=error)
<form method="post" action="/dashboard/settings" class="card grid-form">
  <input type="hidden" name="csrf" value="{{page.csrf}}">
  <h2 class="full">Program</h2>
  <label>Program name <input name="name" required maxlength="200" value="{{form.get('name', '')}}"></label>
  <label>Default commission (%) <input name="default_commission" inputmode="decimal" required value="{{form.get('default_commission', '')}}"></label>
  <label class="full">Landing page URL <span class="hint">where affiliate links send visitors</span><input name="landing_url" type="url" value="{{form.get('landing_url', '')}}"></label>
  <label>Attribution window (days) <input name="attribution_window_days" inputmode="numeric" required value="{{form.get('attribution_window_days', '')}}"></label>
  <label>Hold period (days) <span class="hint">before a sale's commission is approved</span><input name="hold_days" inputmode="numeric" required value="{{form.get('hold_days', '')}}"></label>
  <label>Renewal commission (months) <span class="hint">blank: every renewal earns</span><input name="renewal_months" inputmode="numeric" value="{{form.get('renewal_months', '')}}"></label>
  <label>Payout minimum <input name="payout_minimum" inputmode="decimal" value="{{form.get('payout_minimum', '')}}"></label>
  <button type="submit">Save settings</button>
</form>
<div class="card" id="webhook">
  <h2>Stripe webhook</h2>
  <p>In Stripe → Developers → Webhooks, add this endpoint{{" and put its signing secret below" if page.user["role"] == "owner" else "; an owner of the program puts its signing secret here"}}.</p>
  % include("_copy", copy_id="webhook-url", copy_value=webhook_url, copy_label="Stripe webhook URL")
  % if page.user["role"] == "owner":
  % include("_error", error=secret_error)
  % if webhook_secret:
  % include("_copy", copy_id="webhook-secret", copy_value=webhook_secret, copy_label="Current signing secret")
  <p>To rotate it, roll the endpoint's secret in Stripe (Developers → Webhooks → your endpoint → Roll secret) and put the new one here. From then on events signed with the old secret are refused, so make sure Stripe's endpoint signs with the new one.</p>
  % else:
  <p class="muted">No signing secret yet: every event is refused until you put it here.</p>
  % end
  <form method="post" action="/dashboard/settings/webhook-secret" class="filters">
    <input type="hidden" name="csrf" value="{{page.csrf}}">
    <label>{{"New signing secret" if webhook_secret else "Signing secret"}} <span class="hint">whsec_… from Stripe</span><input name="webhook_secret" class="mono" autocomplete="off" required></label>
    <button type="submit">{{"Rotate webhook secret" if webhook_secret else "Save webhook secret"}}</button>
  </form>
  % end
</div>
<div class="card">
  <h2>Checkout snippet</h2>
  <p>Put this on every page of your site, before <code>&lt;/body&gt;</code>, so a referred visitor is remembered until checkout.</p>
  <div class="copy-row">
    <textarea id="snippet" class="mono" readonly rows="2" aria-label="Checkout snippet">{{snippet}}</textarea>
    <button type="button" class="secondary" data-copy="snippet">Copy</button>
  </div>
  <p>Then, at checkout, hand the referral to Stripe as metadata (the README shows every Stripe integration):</p>
  <div class="copy-row">
    <textarea id="checkout-code" class="mono" readonly rows="7" aria-label="Checkout code">{{checkout_code}}</textarea>
    <button type="button" class="secondary" data-copy="checkout-code">Copy</button>
  </div>
</div>
<div class="card">
  <h2>Affiliate sign-up</h2>
  <p>Share this page so people can apply; you approve them under Affiliates.</p>
  % include("_copy", copy_id="join-url", copy_value=join_url, copy_label="Affiliate sign-up page")
</div>
