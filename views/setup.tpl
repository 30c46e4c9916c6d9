% rebase("layout", title="Set up affilut", page=page)
<section class="narrow card">
  <h1>Set up your affiliate program</h1>
  <p class="muted">This page is shown once, until the first admin exists.</p>
  % include("_error", error=error)
  <form method="post" action="/setup" class="stack">
    <input type="hidden" name="csrf" value="{{page.csrf}}">
    <label>Program name <input name="name" required maxlength="200" value="{{form.get('name', '')}}"></label>
    <label>Default commission (%) <input name="default_commission" inputmode="decimal" value="{{form.get('default_commission') or '10'}}"></label>
    <label>Landing page URL <input name="landing_url" type="url" placeholder="https://yourshop.example/" value="{{form.get('landing_url', '')}}"></label>
    <label>Your email <input name="email" type="email" required autocomplete="username" value="{{form.get('email', '')}}"></label>
    <label>Password <span class="hint">at least 10 characters</span> <input name="password" type="password" required minlength="10" autocomplete="new-password"></label>
    <button type="submit">Create program</button>
  </form>
</section>
