// Swagger UI for roster: the document is /v3/api-docs. With access control
// on, the token (asked once, kept in sessionStorage like the dashboard's)
// is sent as AxonIQ-Access-Token on every request, the document's included.
'use strict';

window.addEventListener('load', async () => {
  const TOKEN_KEY = 'roster.token';
  const TOKEN_HEADER = 'AxonIQ-Access-Token';
  const DOC = '/v3/api-docs';

  const withToken = () => {
    const t = sessionStorage.getItem(TOKEN_KEY);
    return t ? { [TOKEN_HEADER]: t } : {};
  };

  // Ask for a token until the document loads or the user gives up.
  for (;;) {
    let res;
    try {
      res = await fetch(DOC, { headers: withToken(), cache: 'no-store' });
    } catch (_) {
      break; // let Swagger UI show the network error
    }
    if (res.status !== 403) break;
    const t = window.prompt('This node has access control enabled. Access token (AxonIQ-Access-Token):');
    if (!t) break;
    sessionStorage.setItem(TOKEN_KEY, t.trim());
  }

  window.ui = SwaggerUIBundle({
    url: DOC,
    dom_id: '#swagger-ui',
    deepLinking: true,
    validatorUrl: null, // no calls to swagger.io: the machines may be offline
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
    plugins: [SwaggerUIBundle.plugins.DownloadUrl],
    layout: 'StandaloneLayout',
    requestInterceptor: (req) => {
      Object.assign(req.headers, withToken(), req.headers);
      return req;
    },
  });
});
