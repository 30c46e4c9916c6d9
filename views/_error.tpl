% if error:
<p class="error" role="alert">{{error if isinstance(error, str) else error.message[:1].upper() + error.message[1:] + "."}}</p>
% end
