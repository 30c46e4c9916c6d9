% rebase("layout", title="Join " + account["name"], page=page)
<section class="narrow card">
  <h1>Join the {{account["name"]}} affiliate program</h1>
  <p class="muted">Earn {{account["default_commission"]}}% on the sales you refer. The team reviews every application.</p>
  % include("_error", error=error)
  <form method="post" class="stack">
    <input type="hidden" name="csrf" value="{{page.csrf}}">
    <label>Your name <input name="name" required maxlength="200" autocomplete="name" value="{{form.get('name', '')}}"></label>
    <label>Email <input name="email" type="email" required autocomplete="email" value="{{form.get('email', '')}}"></label>
    <label>Password <span class="hint">at least 10 characters</span> <input name="password" type="password" required minlength="10" autocomplete="new-password"></label>
    <label>Password again <input name="password_again" type="password" required minlength="10" autocomplete="new-password"></label>
    <button type="submit">Apply</button>
  </form>
  <p class="muted">Already joined? <a href="/portal/signin/{{account['id']}}">Sign in</a>.</p>
</section>
