/* contactplan's GraphiQL page: wires the bearer-token bar to GraphiQL.
 * Loaded after React, ReactDOM and GraphiQL (all local, see the page's CSP). */
(function () {
  "use strict";

  var TOKEN_KEY = "contactplan.graphiql.token";
  var LOGIN_MUTATION =
    "mutation GraphiQLLogin($username: String!, $password: String!) {\n" +
    "  login(username: $username, password: $password) {\n" +
    "    token\n" +
    "    userErrors { message }\n" +
    "  }\n" +
    "}";
  var DEFAULT_QUERY =
    "# Paste a bearer token above or Log in; Ctrl+Enter runs the query.\n" +
    "{\n  me {\n    name\n    profile {\n      name\n    }\n  }\n}\n";

  var mount = document.getElementById("graphiql");
  var endpoint = mount.getAttribute("data-endpoint");
  var tokenInput = document.getElementById("cp-token");
  var clearButton = document.getElementById("cp-token-clear");
  var loginDetails = document.getElementById("cp-login");
  var loginForm = document.getElementById("cp-login-form");
  var status = document.getElementById("cp-status");
  var root = ReactDOM.createRoot(mount);

  function readStoredToken() {
    try {
      return window.localStorage.getItem(TOKEN_KEY) || "";
    } catch (e) {
      return "";
    }
  }

  function storeToken(token) {
    try {
      if (token) window.localStorage.setItem(TOKEN_KEY, token);
      else window.localStorage.removeItem(TOKEN_KEY);
    } catch (e) {
      /* storage disabled: the token still works for this page */
    }
  }

  function currentToken() {
    return tokenInput.value.trim();
  }

  function showStatus(text, isError) {
    status.textContent = text;
    status.className = isError ? "cp-status cp-error" : "cp-status";
  }

  /* Every request GraphiQL makes (queries, introspection) gets the token, unless the
   * headers editor already sets Authorization explicitly. */
  function fetchWithToken(input, init) {
    var options = Object.assign({}, init || {});
    var headers = new Headers(options.headers || {});
    var token = currentToken();
    if (token && !headers.has("Authorization")) {
      headers.set("Authorization", "Bearer " + token);
    }
    options.headers = headers;
    return window.fetch(input, options);
  }

  /* A new fetcher makes GraphiQL load the schema again, as seen with the new token. */
  function render() {
    var fetcher = GraphiQL.createFetcher({
      url: endpoint,
      fetch: fetchWithToken,
    });
    root.render(
      React.createElement(GraphiQL, {
        fetcher: fetcher,
        defaultQuery: DEFAULT_QUERY,
        defaultEditorToolsVisibility: false,
      })
    );
  }

  function applyToken(token) {
    tokenInput.value = token;
    storeToken(token);
    render();
  }

  tokenInput.value = readStoredToken();
  function onTokenEntered(event) {
    if (event.type === "submit") event.preventDefault();
    if (currentToken() === readStoredToken()) return;
    applyToken(currentToken());
    showStatus(currentToken() ? "Token saved in this browser." : "Token cleared.", false);
  }
  tokenInput.addEventListener("change", onTokenEntered);
  document.getElementById("cp-token-form").addEventListener("submit", onTokenEntered);
  clearButton.addEventListener("click", function () {
    applyToken("");
    showStatus("Token cleared.", false);
  });

  loginForm.addEventListener("submit", function (event) {
    event.preventDefault();
    var data = new FormData(loginForm);
    showStatus("Logging in…", false);
    window
      .fetch(endpoint, {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify({
          query: LOGIN_MUTATION,
          variables: { username: data.get("username"), password: data.get("password") },
        }),
      })
      .then(function (response) {
        return response.json();
      })
      .then(function (body) {
        var payload = body && body.data && body.data.login;
        var errors = (payload && payload.userErrors) || (body && body.errors) || [];
        if (payload && payload.token) {
          loginForm.reset();
          loginDetails.open = false;
          applyToken(payload.token);
          showStatus("Logged in as " + data.get("username") + ".", false);
        } else {
          showStatus(errors.length ? errors[0].message : "Login failed.", true);
        }
      })
      .catch(function (error) {
        showStatus("Login failed: " + error.message, true);
      });
  });

  render();
})();
