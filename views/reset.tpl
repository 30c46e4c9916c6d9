% rebase("layout", title="Choose a new password", page=page)
<section class="narrow card">
  <h1>Choose a new password</h1>
  <p>Your other sessions end when you save it.</p>
  % include("_error", error=error)
  <form method="post" class="stack">
    <input type="hidden" name="csrf" value="{{page.csrf}}">
    <label>New password <span class="hint">at least 10 characters</span> <input name="password" type="password" required minlength="10" autocomplete="new-password"></label>
    <label>New password again <input name="password_again" type="password" required minlength="10" autocomplete="new-password"></label>
    <button type="submit">Save password</button>
  </form>
</section>
