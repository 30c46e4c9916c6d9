% rebase("layout", title="Forgot password", page=page)
<section class="narrow card">
  <h1>Forgot your password?</h1>
  <p>Enter the email you sign in with{{" to " + account["name"] + "'s affiliate portal" if account else ""}}. We will email you a link to choose a new password.</p>
  <form method="post" class="stack">
    <input type="hidden" name="csrf" value="{{page.csrf}}">
    <label>Email <input name="email" type="email" required autocomplete="username"></label>
    <button type="submit">Email me a reset link</button>
  </form>
  <p class="muted"><a href="{{back}}">Back to sign in</a></p>
</section>
