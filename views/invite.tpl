% rebase("layout", title="Choose a password", page=page)
<section class="narrow card">
  <h1>Welcome to {{account["name"]}}</h1>
  <p>Choose a password for <strong>{{email}}</strong>{{" to see your affiliate portal" if invite["kind"] == "affiliate" else " to use the dashboard"}}.</p>
  % include("_error", error=error)
  <form method="post" class="stack">
    <input type="hidden" name="csrf" value="{{page.csrf}}">
    <label>Password <span class="hint">at least 10 characters</span> <input name="password" type="password" required minlength="10" autocomplete="new-password"></label>
    <label>Password again <input name="password_again" type="password" required minlength="10" autocomplete="new-password"></label>
    <button type="submit">Set password</button>
  </form>
</section>
