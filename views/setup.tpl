% rebase("layout", title="Set up affilut", page=page)
<section class="narrow card">
  % if accounts:
  <h1>Become the owner of your program</h1>
  <p class="muted">This link works once. The program keeps its settings, API keys and affiliates; you sign in as its owner.</p>
  % else:
  <h1>Set up your affiliate program</h1>
  <p class="muted">This link works once: it makes the program and you, its owner.</p>
  % end
  % include("_error", error=error)
  <form method="post" action="/setup" class="stack">
    <input type="hidden" name="csrf" value="{{page.csrf}}">
    <input type="hidden" name="token" value="{{token}}">
    % if accounts:
    <label>Program <select name="account">
      % for account in accounts:
      <option value="{{account['id']}}"{{!' selected' if form.get('account') == account['id'] else ''}}>{{account["name"]}} ({{account["id"]}})</option>
      % end
    </select></label>
    % else:
    <label>Program name <input name="name" required maxlength="200" value="{{form.get('name', '')}}"></label>
    <label>Default commission (%) <input name="default_commission" inputmode="decimal" value="{{form.get('default_commission') or '10'}}"></label>
    <label>Landing page URL <input name="landing_url" type="url" placeholder="https://yourshop.example/" value="{{form.get('landing_url', '')}}"></label>
    % end
    <label>Your email <input name="email" type="email" required autocomplete="username" value="{{form.get('email', '')}}"></label>
    <label>Password <span class="hint">at least 10 characters</span> <input name="password" type="password" required minlength="10" autocomplete="new-password"></label>
    <button type="submit">{{"Become its owner" if accounts else "Create program"}}</button>
  </form>
</section>
