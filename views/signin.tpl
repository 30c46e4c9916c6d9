% rebase("layout", title=title, page=page)
<section class="narrow card">
  <h1>{{title}}</h1>
  % include("_error", error=error)
  <form method="post" action="{{action}}" class="stack">
    <input type="hidden" name="csrf" value="{{page.csrf}}">
    <label>Email <input name="email" type="email" required autocomplete="username" value="{{form.get('email', '')}}"></label>
    <label>Password <input name="password" type="password" required autocomplete="current-password"></label>
    <button type="submit">Sign in</button>
  </form>
  <p class="muted"><a href="{{'/portal/forgot/' + account['id'] if who == 'affiliate' else '/forgot'}}">Forgot password?</a></p>
  % if who == "affiliate":
  <p class="muted">New here? <a href="/join/{{account['id']}}">Join the affiliate program</a>.</p>
  % end
</section>
