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
  <label class="full">Stripe webhook signing secret <span class="hint">whsec_… from Stripe's webhook page</span><input name="webhook_secret" class="mono" autocomplete="off" value="{{form.get('webhook_secret', '')}}"></label>
  <button type="submit">Save settings</button>
</form>
<div class="card">
  <h2>Stripe webhook</h2>
  <p>In Stripe → Developers → Webhooks, add this endpoint, then paste its signing secret above.</p>
  % include("_copy", copy_id="webhook-url", copy_value=webhook_url, copy_label="Stripe webhook URL")
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
