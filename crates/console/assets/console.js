// Gatehouse console: a single page over the server's public APIs (Graph log endpoints, Usage &
// insights reports, /gatehouse/insights, the explainer, exports). No framework, no build step.
// Everything the user chose (page, tab, period, filters, columns, grouping) lives in the URL's
// fragment, so a view is shared by sharing its URL. Data is inserted as text, never as HTML.
'use strict';

(function () {
  // ---------------------------------------------------------------- small helpers

  /** Builds an element: el('td', {class: 'num'}, 'text', childNode, …). */
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else if (k === 'class') e.className = v;
      else if (v === true) e.setAttribute(k, '');
      else e.setAttribute(k, String(v));
    }
    for (const c of children.flat()) {
      if (c === undefined || c === null || c === false) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }
  const svgNs = 'http://www.w3.org/2000/svg';
  function svg(tag, attrs, ...children) {
    const e = document.createElementNS(svgNs, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
    for (const c of children.flat()) if (c !== undefined && c !== null) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return e;
  }
  const $ = (sel, root) => (root || document).querySelector(sel);
  const fmtNum = (n) => (n === null || n === undefined ? '' : Number(n).toLocaleString());
  const timeFormat = new Intl.DateTimeFormat(undefined, { year: 'numeric', month: 'numeric', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit' });
  /** A time in the viewer's zone, with UTC on hover. */
  function timeCell(iso) {
    if (!iso) return '';
    const d = new Date(iso);
    if (isNaN(d)) return String(iso);
    return el('time', { datetime: iso, title: d.toISOString().replace('.000Z', 'Z') + ' (UTC)' }, timeFormat.format(d));
  }
  function get(obj, path) {
    let v = obj;
    for (const p of path.split('/')) { if (v === null || v === undefined) return undefined; v = v[p]; }
    return v;
  }
  function toast(text) {
    const t = $('#toast');
    t.textContent = text; t.hidden = false;
    clearTimeout(toast.timer); toast.timer = setTimeout(() => { t.hidden = true; }, 4000);
  }
  /** Timings the benchmark and the tests read: what, how long it took (ms), and when it ended
   *  (`t`: ms since the page's navigation began, as `performance.now()`). */
  window.gatehouseTimings = [];
  function timing(what, started) { const t = performance.now(); window.gatehouseTimings.push({ what, ms: t - started, t }); }

  // ---------------------------------------------------------------- the session

  const TOKEN_KEY = 'gatehouse.token';
  const session = { token: sessionStorage.getItem(TOKEN_KEY), me: null };

  class ApiError extends Error { constructor(status, message) { super(message); this.status = status; } }

  /** A request with the session's token; JSON back; Graph's error envelope as the message. */
  async function api(path, options) {
    const opts = Object.assign({ headers: {} }, options || {});
    opts.headers = Object.assign({ Accept: 'application/json' }, opts.headers);
    if (session.token) opts.headers.Authorization = 'Bearer ' + session.token;
    const response = await fetch(path, opts);
    const text = await response.text();
    let body = null;
    try { body = text ? JSON.parse(text) : null; } catch (_) { body = null; }
    if (!response.ok) {
      const message = (body && body.error && body.error.message) || text || response.statusText;
      if (response.status === 401 && path !== '/gatehouse/console/login') signOut('Your session ended: ' + message);
      throw new ApiError(response.status, message);
    }
    return body;
  }
  /** Graph's URLs come back absolute; the console asks its own origin. */
  const local = (url) => { const u = new URL(url, location.href); return u.pathname + u.search; };

  function signOut(why) {
    // A login link's session ends on the server too (other tokens are only forgotten here).
    if (session.token && why === 'Signed out.') {
      fetch('/gatehouse/console/logout', { method: 'POST', headers: { Authorization: 'Bearer ' + session.token } }).catch(() => {});
    }
    session.token = null; session.me = null;
    sessionStorage.removeItem(TOKEN_KEY);
    renderSignIn(why);
  }

  async function start() {
    $('#signout').addEventListener('click', () => signOut('Signed out.'));
    $('#menu-toggle').addEventListener('click', () => {
      const nav = $('#nav'); const open = !nav.classList.contains('open');
      nav.classList.toggle('open', open); $('#menu-toggle').setAttribute('aria-expanded', String(open));
    });
    $('#nav').addEventListener('click', (e) => { if (e.target.closest('a')) $('#nav').classList.remove('open'); });
    window.addEventListener('hashchange', onHash);
    await onHash();
  }

  /** A login link's code is exchanged first; then the page of the fragment, once signed in. */
  async function onHash() {
    // In-page anchors (the skip link's #main) are not pages.
    if (location.hash && !location.hash.startsWith('#/') && !location.hash.startsWith('#login=')) return;
    const login = new URLSearchParams(location.hash.slice(1)).get('login');
    if (login) {
      history.replaceState(null, '', location.pathname + '#/signins');
      try {
        const s = await api('/gatehouse/console/login', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ code: login }) });
        session.token = s.token; session.me = null; sessionStorage.setItem(TOKEN_KEY, s.token);
      } catch (e) { renderSignIn(e.message); return; }
    }
    if (!session.token) { renderSignIn(); return; }
    if (!session.me) {
      try { await loadMe(); } catch (e) { if (!(e instanceof ApiError && e.status === 401)) renderSignIn(e.message); return; }
    }
    route();
  }

  async function loadMe() {
    session.me = await api('/gatehouse/me');
    $('#who').textContent = 'Tenant ' + session.me.tenant + ' · ' + session.me.role;
    $('#signout').hidden = false;
    $('#nav').hidden = false;
    // Pages of logs the role may not read are not offered.
    const readable = new Set(session.me.logs || []);
    for (const a of document.querySelectorAll('#nav a[data-log]')) a.hidden = !readable.has(a.dataset.log);
    for (const h of document.querySelectorAll('#nav [data-needs]')) h.hidden = !readable.has(h.dataset.needs);
  }

  function renderSignIn(message) {
    if (current && current.destroy) current.destroy();
    current = null;
    $('#who').textContent = ''; $('#signout').hidden = true; $('#nav').hidden = true;
    const input = el('input', { type: 'password', id: 'token', autocomplete: 'off', required: true, placeholder: 'gh_…' });
    const main = $('#main');
    main.replaceChildren(el('div', { class: 'signin' },
      el('h1', {}, 'Sign in to Gatehouse'),
      el('p', { class: 'muted' }, 'Paste a token (gatehouse token create --tenant ID --role global-reader), or open a login link (gatehouse token login-link).'),
      message ? el('p', { class: 'error', role: 'alert' }, message) : null,
      el('form', { onsubmit: async (e) => {
        e.preventDefault();
        session.token = input.value.trim();
        try {
          await loadMe();
          sessionStorage.setItem(TOKEN_KEY, session.token);
          route();
        } catch (err) { session.token = null; renderSignIn(err.message); }
      } },
      el('label', { for: 'token' }, 'Token'), input,
      el('button', { class: 'primary', type: 'submit' }, 'Sign in'))));
    input.focus();
  }

  // ---------------------------------------------------------------- routing

  /** The fragment as a page and its parameters: #/signins?tab=…&f=… */
  function parseHash() {
    const h = location.hash.replace(/^#\/?/, '');
    const [page, query] = h.split('?');
    return { page: page || 'signins', params: new URLSearchParams(query || '') };
  }
  function setParams(page, params, replace) {
    const q = params.toString();
    const url = '#/' + page + (q ? '?' + q : '');
    if (replace) history.replaceState(null, '', url); else history.pushState(null, '', url);
  }

  let current = null; // the page's teardown
  function route() {
    if (!session.token || !session.me) return;
    const { page, params } = parseHash();
    for (const a of document.querySelectorAll('#nav a')) {
      if (a.dataset.page === page) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
    }
    if (current && current.page === page && current.update) { current.update(params); return; }
    if (current && current.destroy) current.destroy();
    const main = $('#main');
    main.replaceChildren();
    const view = PAGES[page] || PAGES.signins;
    current = view(main, params) || {};
    current.page = page;
    document.title = (main.querySelector('h1') || { textContent: 'Gatehouse' }).textContent + ' · Gatehouse';
  }

  // ---------------------------------------------------------------- OData

  const quote = (s) => "'" + String(s).replace(/'/g, "''") + "'";
  const INTERRUPTS = [50074, 50076, 50079, 50072, 50125, 50140, 50158, 50199, 50097, 50058, 16000, 16001];
  /** One filter chip as an OData term. */
  function chipTerm(field, op, value) {
    if (field.kind === 'status') {
      if (value === 'success') return field.path + ' eq 0';
      const inList = field.path + ' in (' + INTERRUPTS.join(', ') + ')';
      if (value === 'interrupted') return inList;
      return '(' + field.path + ' ne 0 and not (' + inList + '))';
    }
    if (field.kind === 'any') {
      const any = field.path + '/any(x: x' + (field.sub ? '/' + field.sub : '') + ' eq ' + quote(value) + ')';
      return op === 'ne' ? 'not (' + any + ')' : any;
    }
    const literal = field.kind === 'int' ? String(parseInt(value, 10)) : field.kind === 'bool' ? (value === 'true' ? 'true' : 'false') : quote(value);
    if (op === 'startswith' || op === 'contains' || op === 'endswith') return op + '(' + field.path + ', ' + literal + ')';
    return field.path + ' ' + op + ' ' + literal;
  }
  const OPS = { eq: 'equals', ne: 'does not equal', startswith: 'starts with', contains: 'contains', gt: 'greater than', lt: 'less than' };
  function opsFor(field) {
    if (field.kind === 'status' || field.kind === 'bool' || field.values) return ['eq', 'ne'].filter((o) => field.kind !== 'status' || o === 'eq');
    if (field.kind === 'int') return ['eq', 'ne', 'gt', 'lt'];
    if (field.kind === 'any') return ['eq', 'ne'];
    return ['eq', 'startswith', 'contains', 'ne'];
  }

  const RANGES = { '1h': 3600e3, '24h': 86400e3, '7d': 7 * 86400e3, '30d': 30 * 86400e3, all: null };
  const RANGE_LABELS = { '1h': 'Last 1 hour', '24h': 'Last 24 hours', '7d': 'Last 7 days', '30d': 'Last 30 days', all: 'All retained', custom: 'Custom range' };
  function utc(d) { return new Date(d).toISOString().replace(/\.\d{3}Z$/, 'Z'); }
  function rangeTerms(timeField, params, fallback) {
    const range = params.get('range') || fallback || '24h';
    if (range === 'custom') {
      const t = [];
      if (params.get('from')) t.push(timeField + ' ge ' + utc(params.get('from')));
      if (params.get('to')) t.push(timeField + ' lt ' + utc(params.get('to')));
      return t;
    }
    const span = RANGES[range];
    return span ? [timeField + ' ge ' + utc(Date.now() - span)] : [];
  }

  // ---------------------------------------------------------------- the logs' definitions

  /** A filterable property: its label, Graph path, kind, and the id chips name it by in URLs. */
  const S = (label, path, extra) => {
    const f = Object.assign({ label, path, kind: 'string' }, extra || {});
    f.id = f.id || (f.sub ? path + '/' + f.sub : path);
    return f;
  };
  const SIGNIN_FIELDS = [
    S('User', 'userPrincipalName'), S('User ID', 'userId'), S('User display name', 'userDisplayName'),
    S('Application', 'appDisplayName'), S('Application ID', 'appId'),
    S('Status', 'status/errorCode', { id: 'status', kind: 'status', values: ['success', 'failure', 'interrupted'] }),
    S('Error code', 'status/errorCode', { kind: 'int' }),
    S('IP address', 'ipAddress'), S('City', 'location/city'), S('State', 'location/state'), S('Country/region', 'location/countryOrRegion'),
    S('Client app', 'clientAppUsed'), S('Browser', 'deviceDetail/browser'), S('Operating system', 'deviceDetail/operatingSystem'),
    S('Device ID', 'deviceDetail/deviceId'), S('Device compliant', 'deviceDetail/isCompliant', { kind: 'bool', values: ['true', 'false'] }),
    S('Conditional Access', 'conditionalAccessStatus', { values: ['success', 'failure', 'notApplied'] }),
    S('Authentication requirement', 'authenticationRequirement', { values: ['singleFactorAuthentication', 'multiFactorAuthentication'] }),
    S('Correlation ID', 'correlationId'), S('Request ID', 'id'), S('Resource', 'resourceDisplayName'), S('Resource ID', 'resourceId'),
    S('Service principal', 'servicePrincipalName'), S('Service principal ID', 'servicePrincipalId'),
    S('Managed identity type', 'managedServiceIdentity/msiType', { values: ['systemAssigned', 'userAssigned', 'none'] }),
    S('Risk level during sign-in', 'riskLevelDuringSignIn', { values: ['none', 'low', 'medium', 'high', 'hidden'] }),
    S('Risk state', 'riskState', { values: ['none', 'atRisk', 'confirmedCompromised', 'dismissed', 'remediated', 'confirmedSafe'] }),
    S('Risk event type', 'riskEventTypes_v2', { kind: 'any' }),
    S('Token issuer type', 'tokenIssuerType', { values: ['AzureAD', 'ADFederationServices'] }),
    S('Authentication protocol', 'authenticationProtocol'), S('Cross-tenant access', 'crossTenantAccessType'),
    S('Incoming token type', 'incomingTokenType'), S('User type', 'userType', { values: ['member', 'guest'] }),
    S('Home tenant ID', 'homeTenantId'), S('Conditional Access policy', 'appliedConditionalAccessPolicies', { kind: 'any', sub: 'displayName' }),
    S('Authentication method', 'authenticationDetails', { kind: 'any', sub: 'authenticationMethod' }),
    S('Aggregated risk level', 'riskLevelAggregated', { values: ['none', 'low', 'medium', 'high', 'hidden'] }), S('Risk detail', 'riskDetail'),
    S('Original request ID', 'originalRequestId'), S('Session ID', 'sessionId'), S('Unique token identifier', 'uniqueTokenIdentifier'),
    S('User agent', 'userAgent'), S('Sign-in identifier', 'signInIdentifier'), S('Autonomous system number', 'autonomousSystemNumber', { kind: 'int' }),
    S('Device join type', 'deviceDetail/trustType'), S('Client credential type', 'clientCredentialType'),
    S('Credential key ID', 'servicePrincipalCredentialKeyId'), S('Network type', 'networkLocationDetails', { kind: 'any', sub: 'networkType' }),
  ];
  const C = (label, value, extra) => Object.assign({ label, value }, extra || {});
  const statusOf = (r) => {
    const code = get(r, 'status/errorCode');
    if (code === 0) return el('span', { class: 'ok' }, 'Success');
    if (INTERRUPTS.includes(code)) return el('span', { class: 'warn' }, 'Interrupted');
    return el('span', { class: 'bad' }, 'Failure');
  };
  const SIGNIN_COLUMNS = [
    C('Date', (r) => timeCell(r.createdDateTime), { key: 'createdDateTime' }),
    C('Request ID', (r) => r.id, { key: 'id' }),
    C('User', (r) => r.userDisplayName || r.userPrincipalName, { key: 'userDisplayName' }),
    C('Username', (r) => r.userPrincipalName, { key: 'userPrincipalName' }),
    C('Service principal', (r) => r.servicePrincipalName, { key: 'servicePrincipalName' }),
    C('Managed identity type', (r) => get(r, 'managedServiceIdentity/msiType'), { key: 'msiType' }),
    C('Application', (r) => r.appDisplayName, { key: 'appDisplayName' }),
    C('Status', statusOf, { key: 'status' }),
    C('Error code', (r) => get(r, 'status/errorCode'), { key: 'errorCode' }),
    C('IP address', (r) => r.ipAddress, { key: 'ipAddress' }),
    C('Location', (r) => [get(r, 'location/city'), get(r, 'location/state'), get(r, 'location/countryOrRegion')].filter(Boolean).join(', '), { key: 'location' }),
    C('Resource', (r) => r.resourceDisplayName, { key: 'resourceDisplayName' }),
    C('Client app', (r) => r.clientAppUsed, { key: 'clientAppUsed' }),
    C('Browser', (r) => get(r, 'deviceDetail/browser'), { key: 'browser' }),
    C('Operating system', (r) => get(r, 'deviceDetail/operatingSystem'), { key: 'os' }),
    C('Conditional Access', (r) => r.conditionalAccessStatus, { key: 'conditionalAccessStatus' }),
    C('Authentication requirement', (r) => r.authenticationRequirement, { key: 'authenticationRequirement' }),
    C('Correlation ID', (r) => r.correlationId, { key: 'correlationId' }),
    C('Risk level', (r) => r.riskLevelDuringSignIn, { key: 'riskLevelDuringSignIn' }),
    C('Risk state', (r) => r.riskState, { key: 'riskState' }),
    C('Token issuer', (r) => r.tokenIssuerType, { key: 'tokenIssuerType' }),
    C('Protocol', (r) => r.authenticationProtocol, { key: 'authenticationProtocol' }),
  ];
  const SIGNIN_TABS = [
    { id: 'interactiveUser', label: 'User sign-ins (interactive)', columns: ['createdDateTime', 'id', 'userDisplayName', 'appDisplayName', 'status', 'ipAddress', 'location', 'conditionalAccessStatus', 'authenticationRequirement'] },
    { id: 'nonInteractiveUser', label: 'User sign-ins (non-interactive)', columns: ['createdDateTime', 'id', 'userDisplayName', 'appDisplayName', 'status', 'ipAddress', 'location', 'resourceDisplayName'], group: 'getSummarizedNonInteractiveSignIns' },
    { id: 'servicePrincipal', label: 'Service principal sign-ins', columns: ['createdDateTime', 'id', 'servicePrincipalName', 'status', 'ipAddress', 'location', 'resourceDisplayName'], group: 'getSummarizedServicePrincipalSignIns' },
    { id: 'managedIdentity', label: 'Managed identity sign-ins', columns: ['createdDateTime', 'id', 'servicePrincipalName', 'msiType', 'status', 'ipAddress', 'resourceDisplayName'], group: 'getSummarizedMSISignIns' },
  ];
  const SEARCH_PATHS = {
    signIns: ['userPrincipalName', 'userDisplayName', 'appDisplayName', 'servicePrincipalName', 'ipAddress', 'resourceDisplayName', 'id', 'correlationId'],
    directoryAudits: ['activityDisplayName', 'category', 'loggedByService', 'initiatedBy/user/userPrincipalName', 'initiatedBy/app/displayName', 'id', 'correlationId'],
    provisioning: ['sourceIdentity/displayName', 'targetIdentity/displayName', 'jobId', 'id', 'changeId', 'servicePrincipal/displayName'],
    riskDetections: ['userPrincipalName', 'riskEventType', 'ipAddress', 'requestId', 'id'],
  };

  const AUDIT_FIELDS = [
    S('Service', 'loggedByService'), S('Category', 'category'), S('Activity', 'activityDisplayName'),
    S('Status', 'result', { values: ['success', 'failure', 'timeout', 'unknownFutureValue'] }),
    S('Initiated by (user)', 'initiatedBy/user/userPrincipalName'), S('Initiated by (app)', 'initiatedBy/app/displayName'),
    S('Target', 'targetResources', { kind: 'any', sub: 'displayName' }), S('Target ID', 'targetResources', { kind: 'any', sub: 'id' }),
    S('Operation type', 'operationType'), S('Correlation ID', 'correlationId'), S('ID', 'id'),
  ];
  const targets = (r) => (r.targetResources || []).map((t) => t.displayName || t.userPrincipalName || t.id).filter(Boolean).join(', ');
  const initiator = (r) => get(r, 'initiatedBy/user/userPrincipalName') || get(r, 'initiatedBy/app/displayName') || '';
  const AUDIT_COLUMNS = [
    C('Date', (r) => timeCell(r.activityDateTime), { key: 'activityDateTime' }),
    C('Service', (r) => r.loggedByService, { key: 'loggedByService' }),
    C('Category', (r) => r.category, { key: 'category' }),
    C('Activity', (r) => r.activityDisplayName, { key: 'activityDisplayName' }),
    C('Status', (r) => el('span', { class: r.result === 'success' ? 'ok' : 'bad' }, r.result || ''), { key: 'result' }),
    C('Status reason', (r) => r.resultReason, { key: 'resultReason' }),
    C('Target(s)', targets, { key: 'targets' }),
    C('Initiated by', initiator, { key: 'initiatedBy' }),
    C('Operation type', (r) => r.operationType, { key: 'operationType' }),
    C('Correlation ID', (r) => r.correlationId, { key: 'correlationId' }),
  ];
  const PROV_FIELDS = [
    S('Identity (source)', 'sourceIdentity/displayName'), S('Identity (target)', 'targetIdentity/displayName'),
    S('Action', 'provisioningAction', { values: ['create', 'update', 'delete', 'disable', 'stagedDelete', 'other'] }),
    S('Status', 'provisioningStatusInfo/status', { values: ['success', 'failure', 'skipped', 'warning'] }),
    S('Source system', 'sourceSystem/displayName'), S('Target system', 'targetSystem/displayName'),
    S('Job ID', 'jobId'), S('Cycle ID', 'cycleId'), S('Change ID', 'changeId'), S('Application', 'servicePrincipal/displayName'), S('ID', 'id'),
  ];
  const PROV_COLUMNS = [
    C('Date', (r) => timeCell(r.activityDateTime), { key: 'activityDateTime' }),
    C('Identity', (r) => get(r, 'sourceIdentity/displayName') || get(r, 'targetIdentity/displayName'), { key: 'identity' }),
    C('Action', (r) => r.provisioningAction, { key: 'provisioningAction' }),
    C('Source system', (r) => get(r, 'sourceSystem/displayName'), { key: 'sourceSystem' }),
    C('Target system', (r) => get(r, 'targetSystem/displayName'), { key: 'targetSystem' }),
    C('Status', (r) => { const s = get(r, 'provisioningStatusInfo/status'); return el('span', { class: s === 'success' ? 'ok' : s === 'failure' ? 'bad' : 'warn' }, s || ''); }, { key: 'status' }),
    C('Application', (r) => get(r, 'servicePrincipal/displayName'), { key: 'application' }),
    C('Job ID', (r) => r.jobId, { key: 'jobId' }),
    C('Cycle ID', (r) => r.cycleId, { key: 'cycleId' }),
    C('Change ID', (r) => r.changeId, { key: 'changeId' }),
  ];
  const RISK_FIELDS = [
    S('User', 'userPrincipalName'), S('Detection type', 'riskEventType'),
    S('Risk level', 'riskLevel', { values: ['low', 'medium', 'high'] }), S('Risk state', 'riskState', { values: ['atRisk', 'dismissed', 'confirmedCompromised', 'remediated'] }),
    S('IP address', 'ipAddress'), S('Request ID', 'requestId'), S('Correlation ID', 'correlationId'),
  ];
  const RISK_COLUMNS = [
    C('Detection time', (r) => timeCell(r.activityDateTime), { key: 'activityDateTime' }),
    C('User', (r) => r.userPrincipalName || r.servicePrincipalDisplayName, { key: 'user' }),
    C('Detection type', (r) => r.riskEventType, { key: 'riskEventType' }),
    C('Risk level', (r) => el('span', { class: r.riskLevel === 'high' ? 'bad' : r.riskLevel === 'medium' ? 'warn' : '' }, r.riskLevel || ''), { key: 'riskLevel' }),
    C('Risk state', (r) => r.riskState, { key: 'riskState' }),
    C('IP address', (r) => r.ipAddress, { key: 'ipAddress' }),
    C('Location', (r) => [get(r, 'location/city'), get(r, 'location/countryOrRegion')].filter(Boolean).join(', '), { key: 'location' }),
    C('Reason', (r) => riskReason(r), { key: 'reason' }),
    C('Request ID', (r) => r.requestId, { key: 'requestId' }),
  ];
  function riskInfo(r) { try { return JSON.parse(r.additionalInfo || '[]'); } catch (_) { return []; } }
  function riskReason(r) { const i = riskInfo(r).find((kv) => kv.Key === 'reason'); return i ? i.Value : ''; }

  // ---------------------------------------------------------------- the log view

  /**
   * A log page: tabs (sign-ins), period, filter chips, free text, columns, grouping, rows loaded
   * as the table scrolls (Graph's keyset paging), a detail pane, downloads.
   */
  function logView(main, params, def) {
    const state = { params, rows: [], next: null, loading: false, generation: 0, selected: null };
    const h1 = el('h1', {}, def.title);
    const tabs = def.tabs ? el('div', { class: 'tabs', role: 'tablist', 'aria-label': 'Sign-in types' }) : null;
    const rangeSelect = el('select', { id: 'range', 'aria-label': 'Date range' }, Object.entries(RANGE_LABELS).map(([k, v]) => el('option', { value: k }, v)));
    const fromInput = el('input', { type: 'datetime-local', id: 'from', 'aria-label': 'From' });
    const toInput = el('input', { type: 'datetime-local', id: 'to', 'aria-label': 'To' });
    const custom = el('span', { class: 'custom-range' }, fromInput, toInput, el('button', { type: 'button', onclick: () => {
      const p = paramsNow(); p.set('range', 'custom');
      if (fromInput.value) p.set('from', new Date(fromInput.value).toISOString()); else p.delete('from');
      if (toInput.value) p.set('to', new Date(toInput.value).toISOString()); else p.delete('to');
      go(p);
    } }, 'Apply'));
    const search = el('input', { type: 'search', id: 'search', placeholder: 'Search (user, app, IP, ids …)', 'aria-label': 'Search' });
    const addFilter = el('button', { type: 'button', id: 'add-filter', 'aria-haspopup': 'dialog' }, '+ Add filter');
    const columnsButton = el('button', { type: 'button', id: 'columns', 'aria-haspopup': 'dialog' }, 'Columns');
    const groupSelect = el('select', { id: 'group', 'aria-label': 'Group rows' },
      el('option', { value: '' }, 'Ungrouped'), el('option', { value: 'h1' }, 'Grouped by 1 hour'), el('option', { value: 'h6' }, 'Grouped by 6 hours'), el('option', { value: 'd1' }, 'Grouped by 24 hours'));
    const groupLabel = el('label', {}, groupSelect);
    const download = el('select', { id: 'download', 'aria-label': 'Download' }, el('option', { value: '' }, 'Download…'), el('option', { value: 'csv' }, 'CSV'), el('option', { value: 'json' }, 'JSON'), el('option', { value: 'ndjson' }, 'JSON lines'));
    const chips = el('div', { class: 'chips', id: 'chips', 'aria-label': 'Filters' });
    const status = el('p', { class: 'status-line', id: 'status', role: 'status' });
    const thead = el('thead');
    const tbody = el('tbody');
    const table = el('table', { id: 'rows', 'aria-label': def.title }, thead, tbody);
    const scroll = el('div', { class: 'table-scroll', tabindex: '0' }, table);
    const detail = el('aside', { class: 'detail', id: 'detail', hidden: true, 'aria-label': 'Details' });
    main.append(h1, tabs || '', el('div', { class: 'toolbar' },
      el('label', {}, rangeSelect), custom, el('span', { class: 'grow' }, search), addFilter, columnsButton, def.tabs ? groupLabel : '', def.exportResource ? download : ''),
    chips, status, el('div', { class: 'grid-wrap' }, scroll, detail));

    const paramsNow = () => new URLSearchParams(state.params.toString());
    const go = (p) => { if (state.destroyed) return; setParams(def.page, p); update(p); };

    rangeSelect.addEventListener('change', () => {
      const p = paramsNow(); p.set('range', rangeSelect.value);
      if (rangeSelect.value !== 'custom') { p.delete('from'); p.delete('to'); }
      go(p);
    });
    let searchTimer = null;
    search.addEventListener('input', () => {
      clearTimeout(searchTimer);
      searchTimer = setTimeout(() => { const p = paramsNow(); if (search.value.trim()) p.set('q', search.value.trim()); else p.delete('q'); go(p); }, 350);
    });
    groupSelect.addEventListener('change', () => { const p = paramsNow(); if (groupSelect.value) p.set('group', groupSelect.value); else p.delete('group'); go(p); });
    download.addEventListener('change', () => { const f = download.value; download.value = ''; if (f) startDownload(f); });
    addFilter.addEventListener('click', () => openFilterPopover(addFilter));
    columnsButton.addEventListener('click', () => openColumnsPopover(columnsButton));

    const tab = () => (def.tabs ? def.tabs.find((t) => t.id === state.params.get('tab')) || def.tabs[0] : null);
    // Only the offered windows: the value goes into a request path.
    const groupWindow = () => (['h1', 'h6', 'd1'].includes(state.params.get('group')) ? state.params.get('group') : '');
    const chipList = () => state.params.getAll('f').map((s) => {
      const [id, op, ...rest] = s.split('~');
      const field = def.fields.find((f) => f.id === id);
      return field && OPS[op] ? { field, op, value: rest.join('~'), raw: s } : null;
    }).filter(Boolean);
    const columnKeys = () => {
      const fromUrl = state.params.get('cols');
      if (fromUrl) return fromUrl.split(',');
      const saved = localStorage.getItem('gatehouse.cols.' + def.page + '.' + (tab() ? tab().id : ''));
      if (saved) return saved.split(',');
      return tab() ? tab().columns : def.defaultColumns;
    };
    const columns = () => { const keys = columnKeys(); return keys.map((k) => def.columns.find((c) => c.key === k)).filter(Boolean); };

    function filterText() {
      const terms = [];
      if (tab()) terms.push("signInEventTypes/any(t: t eq '" + tab().id + "')");
      terms.push(...rangeTerms(def.timeField, state.params, def.defaultRange));
      for (const c of chipList()) terms.push(chipTerm(c.field, c.op, c.value));
      const q = state.params.get('q');
      if (q) terms.push('(' + SEARCH_PATHS[def.resource].map((p) => 'contains(' + p + ', ' + quote(q) + ')').join(' or ') + ')');
      return terms.join(' and ');
    }

    function renderControls() {
      const range = state.params.get('range') || def.defaultRange || '24h';
      rangeSelect.value = range;
      custom.hidden = range !== 'custom';
      const fromIso = state.params.get('from'), toIso = state.params.get('to');
      const localValue = (iso) => { if (!iso) return ''; const d = new Date(iso); return new Date(d - d.getTimezoneOffset() * 60e3).toISOString().slice(0, 16); };
      fromInput.value = localValue(fromIso); toInput.value = localValue(toIso);
      if (document.activeElement !== search) search.value = state.params.get('q') || '';
      if (tabs) {
        tabs.replaceChildren(...def.tabs.map((t) => el('button', { type: 'button', role: 'tab', id: 'tab-' + t.id, 'aria-selected': String(t === tab()), onclick: () => {
          const p = paramsNow(); p.set('tab', t.id); p.delete('cols'); p.delete('group'); go(p);
        } }, t.label)));
        groupLabel.hidden = !tab().group;
        groupSelect.value = tab().group ? groupWindow() : '';
      }
      chips.replaceChildren(...chipList().map((c) => el('span', { class: 'chip' },
        c.field.label + ' ' + OPS[c.op] + ' ' + c.value,
        el('button', { type: 'button', 'aria-label': 'Remove filter ' + c.field.label, onclick: () => {
          const p = paramsNow(); const all = p.getAll('f').filter((s) => s !== c.raw); p.delete('f'); all.forEach((s) => p.append('f', s)); go(p);
        } }, '×'))));
      if (!chipList().length) chips.append(el('span', { class: 'muted' }, 'No filters'));
    }

    function renderHead(cols, grouped) {
      if (grouped) {
        thead.replaceChildren(el('tr', {}, ['', 'Window', tab().id === 'nonInteractiveUser' ? 'User' : 'Identity', 'Application', 'IP address', 'Resource', 'Status', 'Sign-ins'].map((h, i) => el('th', { scope: 'col', class: i === 7 ? 'num' : null }, h))));
      } else {
        thead.replaceChildren(el('tr', {}, cols.map((c) => el('th', { scope: 'col' }, c.label))));
      }
    }

    function rowFor(r, cols) {
      const tr = el('tr', { tabindex: '0', 'data-id': r.id || '' }, cols.map((c) => { const v = c.value(r); return el('td', { title: typeof v === 'string' ? v : null }, v === undefined || v === null ? '' : v); }));
      const open = () => { for (const s of tbody.querySelectorAll('tr[aria-selected]')) s.removeAttribute('aria-selected'); tr.setAttribute('aria-selected', 'true'); showDetail(r); };
      tr.addEventListener('click', open);
      tr.addEventListener('keydown', (e) => {
        // preventDefault: the Enter would otherwise also press the pane's close button, which
        // has the focus by the time the key's keypress arrives.
        if (e.key === 'Enter') { e.preventDefault(); open(); }
        if (e.key === 'ArrowDown' && tr.nextElementSibling) { e.preventDefault(); tr.nextElementSibling.focus(); }
        if (e.key === 'ArrowUp' && tr.previousElementSibling) { e.preventDefault(); tr.previousElementSibling.focus(); }
      });
      return tr;
    }

    const sentinel = el('tr', { class: 'sentinel' }, el('td', { colspan: '99' }, ''));
    const observer = new IntersectionObserver((entries) => { if (entries.some((e) => e.isIntersecting)) more(); }, { root: scroll, rootMargin: '400px' });
    observer.observe(sentinel);

    async function load() {
      const generation = ++state.generation;
      const started = performance.now();
      state.rows = []; state.next = null; state.loading = false;
      tbody.dataset.state = 'loading'; tbody.dataset.view = location.hash; delete tbody.dataset.loaded;
      const grouped = tab() && tab().group && groupWindow();
      renderControls();
      renderHead(columns(), grouped);
      tbody.replaceChildren(sentinel);
      sentinel.firstChild.textContent = 'Loading…';
      status.textContent = '';
      let url;
      if (grouped) {
        const terms = rangeTerms('aggregationDateTime', state.params, def.defaultRange);
        const skipped = [];
        for (const c of chipList()) {
          const summarizable = ['userPrincipalName', 'appId', 'appDisplayName', 'ipAddress', 'resourceId', 'resourceDisplayName', 'servicePrincipalId', 'servicePrincipalName', 'conditionalAccessStatus'];
          if (c.op === 'eq' && summarizable.includes(c.field.path)) terms.push(chipTerm(c.field, c.op, c.value));
          else if (c.op === 'eq' && c.field.kind === 'int' && c.field.path === 'status/errorCode') terms.push(chipTerm(c.field, c.op, c.value));
          else if (c.op === 'startswith' && ['ipAddress', 'servicePrincipalName'].includes(c.field.path)) terms.push(chipTerm(c.field, c.op, c.value));
          else skipped.push(c.field.label);
        }
        if (state.params.get('q')) skipped.push('search');
        if ((state.params.get('range') || def.defaultRange || '24h') === 'all') terms.push('aggregationDateTime ge 1970-01-01T00:00:00Z');
        state.groupNote = skipped.length ? 'Groups ignore: ' + skipped.join(', ') + '.' : '';
        const p = new URLSearchParams({ $top: '200' });
        if (terms.length) p.set('$filter', terms.join(' and '));
        url = '/beta/auditLogs/' + tab().group + "(aggregationWindow='" + grouped + "')?" + p;
      } else {
        const p = new URLSearchParams({ $top: '100' });
        const f = filterText();
        if (f) p.set('$filter', f);
        url = def.path + '?' + p;
      }
      await fetchPage(url, generation, grouped);
      if (generation === state.generation) { timing(def.page + ':firstRows', started); tbody.dataset.state = 'done'; }
    }

    async function fetchPage(url, generation, grouped) {
      if (state.destroyed) return;
      state.loading = true;
      try {
        const page = await api(url);
        if (generation !== state.generation) return;
        const cols = columns();
        const fragment = document.createDocumentFragment();
        for (const r of page.value || []) fragment.append(grouped ? groupRow(r, grouped) : rowFor(r, cols));
        tbody.insertBefore(fragment, sentinel);
        state.rows.push(...(page.value || []));
        state.next = page['@odata.nextLink'] ? local(page['@odata.nextLink']) : null;
        sentinel.firstChild.textContent = state.next ? 'Loading more as you scroll…' : state.rows.length ? 'End of results' : 'No results for this view';
        status.textContent = fmtNum(state.rows.length) + (grouped ? ' groups' : ' records') + (state.next ? ' loaded, more as you scroll' : '') + '. ' + (grouped ? state.groupNote || '' : '');
        tbody.dataset.loaded = String(state.rows.length);
      } catch (e) {
        if (generation !== state.generation) return;
        sentinel.firstChild.replaceChildren(el('span', { class: 'error', role: 'alert' }, e.message));
        state.next = null;
      } finally {
        if (generation === state.generation) state.loading = false;
      }
      // A page that does not fill the view: load the next at once.
      if (state.next && generation === state.generation && scroll.scrollHeight <= scroll.clientHeight + 400) more();
    }

    function more() {
      if (state.destroyed || state.loading || !state.next) return;
      const grouped = tab() && tab().group && groupWindow();
      fetchPage(state.next, state.generation, grouped);
    }

    // Grouped rows: one per summarized group; expanding lists its sign-ins.
    const WINDOW_MS = { h1: 3600e3, h6: 6 * 3600e3, d1: 86400e3 };
    function groupRow(g, windowName) {
      const expand = el('button', { type: 'button', class: 'link expand', 'aria-expanded': 'false', 'aria-label': 'Show the sign-ins of this group' }, '▸');
      const code = get(g, 'status/errorCode');
      const tr = el('tr', { class: 'group', tabindex: '0' }, el('td', {}, expand), el('td', {}, timeCell(g.aggregationDateTime)),
        el('td', {}, g.userPrincipalName || g.servicePrincipalName || ''), el('td', {}, g.appDisplayName || ''), el('td', {}, g.ipAddress || ''),
        el('td', {}, g.resourceDisplayName || ''), el('td', {}, code === 0 ? el('span', { class: 'ok' }, 'Success') : el('span', { class: 'bad' }, 'Failure ' + code)),
        el('td', { class: 'num' }, fmtNum(g.signInCount)));
      let children = [];
      let busy = false;
      const toggle = async () => {
        if (busy) return;
        if (children.length) { children.forEach((c) => c.remove()); children = []; expand.textContent = '▸'; expand.setAttribute('aria-expanded', 'false'); return; }
        expand.textContent = '▾'; expand.setAttribute('aria-expanded', 'true');
        const from = new Date(g.aggregationDateTime).getTime();
        const eqOrNull = (path, v) => (v === null || v === undefined || v === '' ? '(' + path + ' eq null or ' + path + " eq '')" : path + ' eq ' + quote(v));
        const terms = ["signInEventTypes/any(t: t eq '" + tab().id + "')", 'createdDateTime ge ' + utc(from), 'createdDateTime lt ' + utc(from + WINDOW_MS[windowName]),
          eqOrNull('userPrincipalName', g.userPrincipalName), eqOrNull('appId', g.appId), eqOrNull('ipAddress', g.ipAddress), eqOrNull('resourceId', g.resourceId),
          eqOrNull('servicePrincipalId', g.servicePrincipalId), eqOrNull('conditionalAccessStatus', g.conditionalAccessStatus), 'status/errorCode eq ' + code];
        const p = new URLSearchParams({ $top: '1000', $filter: terms.join(' and ') });
        busy = true;
        try {
          const page = await api('/beta/auditLogs/signIns?' + p);
          const childColumns = [C('', () => ''), C('Date', (r) => timeCell(r.createdDateTime)), C('Identity', (r) => r.userPrincipalName || r.servicePrincipalName),
            C('Application', (r) => r.appDisplayName), C('IP address', (r) => r.ipAddress), C('Resource', (r) => r.resourceDisplayName), C('Status', statusOf), C('', () => '')];
          children = (page.value || []).map((r) => { const c = rowFor(r, childColumns); c.classList.add('group-child'); return c; });
          tr.after(...children);
        } catch (e) { toast(e.message); } finally { busy = false; }
      };
      expand.addEventListener('click', (e) => { e.stopPropagation(); toggle(); });
      tr.addEventListener('click', toggle);
      tr.addEventListener('keydown', (e) => { if (e.key === 'Enter' && e.target === tr) { e.preventDefault(); toggle(); } });
      return tr;
    }

    // The detail pane.
    function showDetail(r) {
      state.selected = r;
      const sections = def.detail(r);
      let active = 0;
      const body = el('div', { class: 'body', id: 'detail-body', tabindex: '0' });
      const tabButtons = sections.map((s, i) => el('button', { type: 'button', role: 'tab', id: 'detail-tab-' + i, 'aria-selected': String(i === 0), onclick: () => select(i) }, s.label));
      async function select(i) {
        active = i;
        tabButtons.forEach((b, k) => b.setAttribute('aria-selected', String(k === i)));
        body.replaceChildren(el('p', { class: 'muted' }, 'Loading…'));
        try { const content = await sections[i].render(); if (active === i) body.replaceChildren(content); } catch (e) { if (active === i) body.replaceChildren(el('p', { class: 'error' }, e.message)); }
      }
      const close = el('button', { type: 'button', class: 'link', 'aria-label': 'Close details', onclick: hideDetail }, '✕');
      detail.replaceChildren(el('header', {}, el('h2', {}, def.detailTitle(r)), close), el('div', { class: 'tabs', role: 'tablist', 'aria-label': 'Detail sections' }, tabButtons), body);
      detail.hidden = false;
      select(0);
      close.focus();
    }
    function hideDetail() { detail.hidden = true; state.selected = null; const sel = tbody.querySelector('tr[aria-selected]'); if (sel) { sel.removeAttribute('aria-selected'); sel.focus(); } }
    const onKey = (e) => { if (e.key === 'Escape' && !detail.hidden) hideDetail(); };
    document.addEventListener('keydown', onKey);

    // Filters and columns popovers.
    let popover = null;
    function closePopover() { if (popover) { popover.remove(); popover = null; } }
    function place(p, anchor) {
      const r = anchor.getBoundingClientRect();
      p.style.top = (r.bottom + window.scrollY + 4) + 'px';
      p.style.left = Math.max(8, Math.min(r.left + window.scrollX, window.innerWidth - 300)) + 'px';
      document.body.append(p); popover = p;
    }
    function openFilterPopover(anchor) {
      closePopover();
      const fieldSelect = el('select', { id: 'filter-field', 'aria-label': 'Filter on' }, def.fields.map((f) => el('option', { value: f.id }, f.label)));
      const fieldOf = () => def.fields.find((f) => f.id === fieldSelect.value);
      const opSelect = el('select', { id: 'filter-op', 'aria-label': 'Operator' });
      let valueInput = null;
      const valueSlot = el('span');
      const refresh = () => {
        const f = fieldOf();
        opSelect.replaceChildren(...opsFor(f).map((o) => el('option', { value: o }, OPS[o])));
        valueInput = f.values ? el('select', { id: 'filter-value', 'aria-label': 'Value' }, f.values.map((v) => el('option', { value: v }, v)))
          : el('input', { type: 'text', id: 'filter-value', 'aria-label': 'Value', required: true, inputmode: f.kind === 'int' ? 'numeric' : null });
        valueSlot.replaceChildren(valueInput);
      };
      fieldSelect.addEventListener('change', refresh); refresh();
      const form = el('form', { onsubmit: (e) => {
        e.preventDefault();
        const f = fieldOf();
        const value = valueInput.value.trim();
        if (!value || (f.kind === 'int' && !/^-?\d+$/.test(value))) { valueInput.setCustomValidity(f.kind === 'int' ? 'A whole number' : 'A value'); valueInput.reportValidity(); return; }
        const p = paramsNow(); p.append('f', fieldSelect.value + '~' + opSelect.value + '~' + value);
        closePopover(); go(p); anchor.focus();
      } }, el('label', {}, 'Filter on ', fieldSelect), opSelect, valueSlot,
      el('div', { class: 'row' }, el('button', { type: 'button', onclick: () => { closePopover(); anchor.focus(); } }, 'Cancel'), el('button', { type: 'submit', class: 'primary', id: 'filter-apply' }, 'Apply')));
      const p = el('div', { class: 'popover', role: 'dialog', 'aria-label': 'Add filter', onkeydown: (e) => { if (e.key === 'Escape') { closePopover(); anchor.focus(); } } }, form);
      place(p, anchor); fieldSelect.focus();
    }
    function openColumnsPopover(anchor) {
      closePopover();
      const chosen = new Set(columnKeys());
      const boxes = def.columns.map((c) => el('label', {}, el('input', { type: 'checkbox', value: c.key, checked: chosen.has(c.key), 'data-column': c.key }), ' ' + c.label));
      const form = el('form', { onsubmit: (e) => {
        e.preventDefault();
        const keys = boxes.map((b) => b.firstChild).filter((b) => b.checked).map((b) => b.value);
        if (!keys.length) return;
        localStorage.setItem('gatehouse.cols.' + def.page + '.' + (tab() ? tab().id : ''), keys.join(','));
        const p = paramsNow(); p.set('cols', keys.join(',')); closePopover(); go(p); anchor.focus();
      } }, el('div', { class: 'columns-list' }, boxes), el('div', { class: 'row' }, el('button', { type: 'button', onclick: () => { closePopover(); anchor.focus(); } }, 'Cancel'), el('button', { type: 'submit', class: 'primary', id: 'columns-apply' }, 'Apply')));
      place(el('div', { class: 'popover', role: 'dialog', 'aria-label': 'Columns', onkeydown: (e) => { if (e.key === 'Escape') { closePopover(); anchor.focus(); } } }, form), anchor);
      boxes[0].firstChild.focus();
    }
    const onDocClick = (e) => { if (popover && !popover.contains(e.target) && e.target !== addFilter && e.target !== columnsButton) closePopover(); };
    document.addEventListener('mousedown', onDocClick);

    // Downloads stream from the server to disk: a single-use ticket stands for the token.
    async function startDownload(format) {
      if (!def.exportResource) { toast('This list has no download.'); return; }
      try {
        const { ticket } = await api('/gatehouse/export-tickets', { method: 'POST' });
        const p = new URLSearchParams({ format, ticket });
        const f = filterText();
        if (f) p.set('$filter', f);
        const href = '/gatehouse/export/' + def.exportResource + '?' + p;
        window.gatehouseLastDownload = { filter: f, format, url: href };
        const a = el('a', { href, download: '', id: 'download-link' });
        document.body.append(a); a.click(); a.remove();
        toast('Downloading every record of this view as ' + format.toUpperCase() + '…');
      } catch (e) { toast(e.message); }
    }

    function update(p) {
      state.params = p;
      closePopover();
      hideDetailQuiet();
      load();
    }
    function hideDetailQuiet() { detail.hidden = true; state.selected = null; }
    update(params);
    return { update, destroy: () => { state.destroyed = true; state.generation++; clearTimeout(searchTimer); observer.disconnect(); document.removeEventListener('keydown', onKey); document.removeEventListener('mousedown', onDocClick); closePopover(); } };
  }

  // ---------------------------------------------------------------- detail sections

  function kv(pairs) {
    return el('dl', { class: 'kv' }, pairs.filter(([, v]) => v !== undefined && v !== null && v !== '').flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, typeof v === 'object' && !(v instanceof Node) ? JSON.stringify(v) : v)]));
  }
  const raw = (r) => ({ label: 'Raw JSON', render: () => el('pre', { class: 'json', id: 'raw-json' }, JSON.stringify(r, null, 2)) });
  function tableOf(headers, rows) {
    if (!rows.length) return el('p', { class: 'muted' }, 'None.');
    return el('table', {}, el('thead', {}, el('tr', {}, headers.map((h) => el('th', { scope: 'col' }, h)))), el('tbody', {}, rows.map((r) => el('tr', {}, r.map((c) => el('td', { title: typeof c === 'string' ? c : null }, c ?? ''))))));
  }
  function signInDetail(r) {
    return [
      { label: 'Basic info', render: () => kv([
        ['Date', timeCell(r.createdDateTime)], ['Request ID', r.id], ['Correlation ID', r.correlationId], ['Sign-in types', (r.signInEventTypes || []).join(', ')],
        ['Status', statusOf(r)], ['Error code', get(r, 'status/errorCode')], ['Failure reason', get(r, 'status/failureReason')], ['Additional details', get(r, 'status/additionalDetails')],
        ['User', r.userDisplayName], ['Username', r.userPrincipalName], ['User ID', r.userId], ['User type', r.userType],
        ['Service principal', r.servicePrincipalName], ['Service principal ID', r.servicePrincipalId],
        ['Application', r.appDisplayName], ['Application ID', r.appId], ['Resource', r.resourceDisplayName], ['Resource ID', r.resourceId],
        ['Client app', r.clientAppUsed], ['Token issuer type', r.tokenIssuerType], ['Authentication protocol', r.authenticationProtocol],
        ['Cross-tenant access type', r.crossTenantAccessType], ['Incoming token type', r.incomingTokenType], ['Home tenant ID', r.homeTenantId], ['Resource tenant ID', r.resourceTenantId],
        ['Risk level during sign-in', r.riskLevelDuringSignIn], ['Risk level aggregated', r.riskLevelAggregated], ['Risk state', r.riskState], ['Risk detail', r.riskDetail], ['Risk event types', (r.riskEventTypes_v2 || []).join(', ')],
      ]) },
      { label: 'Location', render: () => kv([
        ['IP address', r.ipAddress], ['City', get(r, 'location/city')], ['State', get(r, 'location/state')], ['Country/region', get(r, 'location/countryOrRegion')],
        ['Latitude', get(r, 'location/geoCoordinates/latitude')], ['Longitude', get(r, 'location/geoCoordinates/longitude')], ['Autonomous system number', r.autonomousSystemNumber],
        ['Network names', (r.networkLocationDetails || []).map((n) => (n.networkNames || []).join(', ') + ' (' + n.networkType + ')').join('; ')],
      ]) },
      { label: 'Device info', render: () => kv([
        ['Device ID', get(r, 'deviceDetail/deviceId')], ['Name', get(r, 'deviceDetail/displayName')], ['Operating system', get(r, 'deviceDetail/operatingSystem')], ['Browser', get(r, 'deviceDetail/browser')],
        ['Compliant', String(get(r, 'deviceDetail/isCompliant') ?? '')], ['Managed', String(get(r, 'deviceDetail/isManaged') ?? '')], ['Join type', get(r, 'deviceDetail/trustType')], ['User agent', r.userAgent],
      ]) },
      { label: 'Authentication details', render: () => el('div', {},
        kv([['Authentication requirement', r.authenticationRequirement], ['Multifactor result', (r.authenticationRequirementPolicies || []).map((p) => p.requirementProvider).join(', ')]]),
        tableOf(['Date', 'Method', 'Detail', 'Succeeded', 'Result', 'Step'], (r.authenticationDetails || []).map((a) => [timeCell(a.authenticationStepDateTime), a.authenticationMethod, a.authenticationMethodDetail, String(a.succeeded), a.authenticationStepResultDetail, a.authenticationStepRequirement]))) },
      { label: 'Conditional Access', render: () => tableOf(['Policy', 'Result', 'Grant controls', 'Session controls'], (r.appliedConditionalAccessPolicies || []).map((p) => [p.displayName, el('span', { class: p.result === 'failure' ? 'bad' : p.result === 'success' ? 'ok' : '' }, p.result || ''), (p.enforcedGrantControls || []).join(', '), (p.enforcedSessionControls || []).join(', ')])) },
      { label: 'Who, how, what', render: () => explain(r.id) },
      raw(r),
    ];
  }
  async function explain(id) {
    const e = await api('/gatehouse/signIns/' + encodeURIComponent(id) + '/explain');
    const box = el('div', { id: 'explain' });
    const flat = (v) => (v === null || v === undefined ? '' : Array.isArray(v) ? v.map((x) => (typeof x === 'object' ? JSON.stringify(x) : x)).join('; ') : typeof v === 'object' ? JSON.stringify(v) : String(v));
    const section = (title, obj, skip) => { box.append(el('h3', {}, title), kv(Object.entries(obj || {}).filter(([k]) => !(skip || []).includes(k)).map(([k, v]) => [k, flat(v)]))); };
    const d = e.diagnosis || {};
    const outcomeClass = d.outcome === 'success' ? 'ok' : d.outcome === 'interrupted' ? 'warn' : 'bad';
    box.append(el('h3', {}, 'Diagnosis'), el('p', { class: outcomeClass, id: 'diagnosis-summary' }, d.summary || ''));
    const err = d.error || {};
    box.append(kv([['Outcome', d.outcome], ['Error code', err.code], ['Name', err.name], ['Meaning', err.meaning], ['Class', err.class], ['Reason in the log', d.failureReason], ['Additional details', d.additionalDetails], ['Conditional Access', d.conditionalAccessStatus], ['Risk', flat(d.risk)]]));
    if ((d.decidingPolicies || []).length || (d.reportOnlyPolicies || []).length) {
      box.append(el('h3', {}, 'Conditional Access policies that decided it'), tableOf(['Policy', 'Result', 'Grant controls'], [...(d.decidingPolicies || []), ...(d.reportOnlyPolicies || [])].map((p) => [p.displayName, p.result, (p.grantControls || []).join(', ')])));
    }
    if ((d.actions || []).length) box.append(el('h3', {}, 'What to do'), el('ul', { class: 'steps' }, d.actions.map((a) => el('li', {}, a))));
    section('Who', e.who);
    section('How', e.how, ['authenticationSteps']);
    if ((get(e, 'how/authenticationSteps') || []).length) box.append(tableOf(['Step', 'Method', 'Result', 'Succeeded'], e.how.authenticationSteps.map((s) => [s.requirement, s.method, s.result, String(s.succeeded)])));
    section('What', e.what);
    return box;
  }
  function auditDetail(r) {
    return [
      { label: 'Activity', render: () => kv([['Date', timeCell(r.activityDateTime)], ['Activity', r.activityDisplayName], ['Category', r.category], ['Service', r.loggedByService], ['Operation type', r.operationType], ['Status', r.result], ['Status reason', r.resultReason], ['Correlation ID', r.correlationId], ['ID', r.id], ['Initiated by', initiator(r)], ['Initiator IP', get(r, 'initiatedBy/user/ipAddress')]]) },
      { label: 'Target(s)', render: () => tableOf(['Type', 'Display name', 'ID', 'UPN'], (r.targetResources || []).map((t) => [t.type, t.displayName, t.id, t.userPrincipalName])) },
      { label: 'Modified properties', render: () => tableOf(['Target', 'Property', 'Old value', 'New value'], (r.targetResources || []).flatMap((t) => (t.modifiedProperties || []).map((m) => [t.displayName || t.id, m.displayName, m.oldValue, m.newValue]))) },
      { label: 'Additional details', render: () => kv((r.additionalDetails || []).map((d) => [d.key, d.value])) },
      raw(r),
    ];
  }
  function provisioningDetail(r) {
    return [
      { label: 'Steps', render: () => tableOf(['#', 'Step', 'Type', 'Status', 'Description'], (r.provisioningSteps || []).map((s, i) => [String(i + 1), s.name, s.provisioningStepType, el('span', { class: s.status === 'success' ? 'ok' : s.status === 'failure' ? 'bad' : '' }, s.status || ''), s.description])) },
      { label: 'Troubleshooting', render: () => kv([['Status', get(r, 'provisioningStatusInfo/status')], ['Error code', get(r, 'provisioningStatusInfo/errorInformation/errorCode')], ['Reason', get(r, 'provisioningStatusInfo/errorInformation/reason')], ['Additional details', get(r, 'provisioningStatusInfo/errorInformation/additionalDetails')], ['Recommendation', get(r, 'provisioningStatusInfo/errorInformation/recommendedAction')]]) },
      { label: 'Modified properties', render: () => tableOf(['Property', 'Old value', 'New value'], (r.modifiedProperties || []).map((m) => [m.displayName, m.oldValue, m.newValue])) },
      { label: 'Summary', render: () => kv([['Date', timeCell(r.activityDateTime)], ['Action', r.provisioningAction], ['Source system', get(r, 'sourceSystem/displayName')], ['Target system', get(r, 'targetSystem/displayName')], ['Source identity', get(r, 'sourceIdentity/displayName')], ['Source ID', get(r, 'sourceIdentity/id')], ['Target identity', get(r, 'targetIdentity/displayName')], ['Target ID', get(r, 'targetIdentity/id')], ['Application', get(r, 'servicePrincipal/displayName')], ['Job ID', r.jobId], ['Cycle ID', r.cycleId], ['Change ID', r.changeId], ['Duration (ms)', r.durationInMilliseconds], ['Initiated by', get(r, 'initiatedBy/displayName')]]) },
      raw(r),
    ];
  }
  function riskDetail(r) {
    const info = riskInfo(r);
    const val = (k) => (info.find((kv) => kv.Key === k) || {}).Value;
    return [
      { label: 'Evidence', render: () => {
        const box = el('div', {}, kv([['Detection', r.riskEventType], ['Level', r.riskLevel], ['State', r.riskState], ['Detail', r.riskDetail], ['When', timeCell(r.activityDateTime)], ['User', r.userPrincipalName], ['IP address', r.ipAddress], ['Reason', val('reason')], ['MITRE ATT&CK', val('mitreTechniques')], ['Sign-ins', val('signInIds')], ['Request ID', r.requestId]]));
        for (const k of ['observed', 'baseline']) { const v = val(k); if (v) box.append(el('h3', {}, k === 'observed' ? 'Observed' : 'Baseline'), el('pre', { class: 'json' }, typeof v === 'string' ? v : JSON.stringify(v, null, 2))); }
        return box;
      } },
      raw(r),
    ];
  }

  // ---------------------------------------------------------------- the pages

  const PAGES = {
    signins: (main, params) => logView(main, params, { page: 'signins', title: 'Sign-in logs', path: '/beta/auditLogs/signIns', resource: 'signIns', exportResource: 'signIns', timeField: 'createdDateTime', fields: SIGNIN_FIELDS, columns: SIGNIN_COLUMNS, tabs: SIGNIN_TABS, detail: signInDetail, detailTitle: (r) => 'Activity details: ' + (r.userPrincipalName || r.servicePrincipalName || r.id) }),
    audits: (main, params) => logView(main, params, { page: 'audits', title: 'Audit logs', path: '/beta/auditLogs/directoryAudits', resource: 'directoryAudits', exportResource: 'directoryAudits', timeField: 'activityDateTime', fields: AUDIT_FIELDS, columns: AUDIT_COLUMNS, defaultColumns: ['activityDateTime', 'loggedByService', 'category', 'activityDisplayName', 'result', 'resultReason', 'targets', 'initiatedBy'], defaultRange: '7d', detail: auditDetail, detailTitle: (r) => r.activityDisplayName || r.id }),
    provisioning: (main, params) => logView(main, params, { page: 'provisioning', title: 'Provisioning logs', path: '/beta/auditLogs/provisioning', resource: 'provisioning', exportResource: 'provisioning', timeField: 'activityDateTime', fields: PROV_FIELDS, columns: PROV_COLUMNS, defaultColumns: ['activityDateTime', 'identity', 'provisioningAction', 'sourceSystem', 'targetSystem', 'status', 'jobId'], defaultRange: '7d', detail: provisioningDetail, detailTitle: (r) => (get(r, 'sourceIdentity/displayName') || r.id) + ' · ' + (r.provisioningAction || '') }),
    'risk/detections': (main, params) => logView(main, params, { page: 'risk/detections', title: 'Risk detections', path: '/beta/identityProtection/riskDetections', resource: 'riskDetections', timeField: 'activityDateTime', fields: RISK_FIELDS, columns: RISK_COLUMNS, defaultColumns: RISK_COLUMNS.map((c) => c.key), defaultRange: '30d', detail: riskDetail, detailTitle: (r) => r.riskEventType + ' · ' + (r.userPrincipalName || r.servicePrincipalDisplayName || '') }),
    'risk/users': riskyUsersPage,
    insights: overviewPage,
    'insights/applications': applicationsPage,
    'insights/adfs': adfsPage,
    'insights/authmethods': authMethodsPage,
    'insights/serviceprincipals': servicePrincipalsPage,
    'insights/credentials': credentialsPage,
  };

  // ---------------------------------------------------------------- charts

  const PALETTE = { success: '#107c10', failure: '#c50f1f', interrupted: '#bc4b09', a: '#0f6cbd', b: '#8764b8', c: '#038387', d: '#ca5010' };
  /** Horizontal bars, one row per item, stacked series. */
  function barChart(items, series, label) {
    const rowH = 22, labelW = 190, width = 520, barW = width - labelW - 60;
    const max = Math.max(1, ...items.map((it) => series.reduce((s, x) => s + (Number(it[x.key]) || 0), 0)));
    const chart = svg('svg', { class: 'chart', viewBox: '0 0 ' + width + ' ' + (items.length * rowH + 4), role: 'img', 'aria-label': label });
    items.forEach((it, i) => {
      const y = i * rowH + 2;
      chart.append(svg('text', { x: labelW - 6, y: y + 14, 'text-anchor': 'end' }, String(it.label).slice(0, 32)));
      let x = labelW, total = 0;
      for (const s of series) {
        const v = Number(it[s.key]) || 0; total += v;
        const w = (v / max) * barW;
        if (w > 0) chart.append(svg('rect', { x, y: y + 3, width: Math.max(w, 1), height: rowH - 8, fill: s.color }, svg('title', {}, it.label + ': ' + s.label + ' ' + fmtNum(v))));
        x += w;
      }
      chart.append(svg('text', { x: x + 4, y: y + 14 }, fmtNum(total)));
    });
    return el('figure', { style: null }, legend(series), chart);
  }
  /** Columns per day, stacked series. */
  function dailyChart(days, series, label) {
    const width = 520, height = 170, pad = 40;
    const max = Math.max(1, ...days.map((d) => series.reduce((s, x) => s + (Number(d[x.key]) || 0), 0)));
    const colW = (width - pad) / Math.max(days.length, 1);
    const chart = svg('svg', { class: 'chart', viewBox: '0 0 ' + width + ' ' + (height + 20), role: 'img', 'aria-label': label });
    chart.append(svg('text', { x: 0, y: 10 }, fmtNum(max)));
    days.forEach((d, i) => {
      let y = height;
      for (const s of series) {
        const v = Number(d[s.key]) || 0;
        const h = (v / max) * (height - 16);
        if (h > 0) chart.append(svg('rect', { x: pad + i * colW + 1, y: y - h, width: Math.max(colW - 2, 1), height: h, fill: s.color }, svg('title', {}, d.day + ': ' + s.label + ' ' + fmtNum(v))));
        y -= h;
      }
      if (days.length <= 16 || i % Math.ceil(days.length / 12) === 0) chart.append(svg('text', { x: pad + i * colW, y: height + 14 }, String(d.day).slice(5)));
    });
    return el('figure', {}, legend(series), chart);
  }
  const legend = (series) => el('div', { class: 'legend' }, series.map((s) => el('span', {}, el('i', { style: null, 'data-color': s.color }), s.label)));
  // Legend swatches take their colour from a data attribute (no inline styles under the CSP).
  function paintLegends(root) { for (const i of root.querySelectorAll('i[data-color]')) i.style.background = i.dataset.color; }

  const PERIODS = [['D1', 'Last 1 day'], ['D7', 'Last 7 days'], ['D30', 'Last 30 days']];
  function page(main, title, intro) {
    main.append(el('h1', {}, title), intro ? el('p', { class: 'muted' }, intro) : '');
    const body = el('div', { class: 'page-body' });
    main.append(body);
    return body;
  }
  /** An answer overtaken by a newer request (dropped, not shown). */
  class Stale extends Error {}
  async function fill(box, fn) {
    box.replaceChildren(el('p', { class: 'muted' }, 'Loading…'));
    const started = performance.now();
    try { const content = await fn(); box.replaceChildren(content); paintLegends(box); timing(box.id || 'card', started); } catch (e) { if (!(e instanceof Stale)) box.replaceChildren(el('p', { class: 'error', role: 'alert' }, e.message)); }
  }
  function card(id, title) { const body = el('div', { id }); return [el('section', { class: 'card', 'aria-labelledby': id + '-h' }, el('h2', { id: id + '-h' }, title), body), body]; }
  /** A choice kept in the URL; anything but the offered values reads as the fallback. */
  function choice(params, key, options, fallback) {
    const v = params.get(key);
    return options.some(([o]) => o === v) ? v : fallback;
  }
  function periodSelect(params, pageName, key, options, fallback) {
    const s = el('select', { id: key, 'aria-label': 'Period' }, options.map(([v, l]) => el('option', { value: v }, l)));
    s.value = choice(params, key, options, fallback);
    s.addEventListener('change', () => { const p = new URLSearchParams(params.toString()); p.set(key, s.value); setParams(pageName, p); route(); });
    return s;
  }

  function overviewPage(main) {
    const body = page(main, 'Usage & insights', 'The four everyday questions, over everything retained.');
    const [c1, b1] = card('q-applications', 'Users who signed into applications (7 days)');
    const [c2, b2] = card('q-failures', 'Failed sign-ins (24 hours)');
    const [c3, b3] = card('q-clients', 'Browsers and operating systems (7 days)');
    const [c4, b4] = card('q-workloads', 'Resources accessed by managed identities and service principals (7 days)');
    const [c5, b5] = card('q-daily', 'Sign-ins per day (30 days)');
    body.append(el('div', { class: 'cards' }, c1, c2, c3, c4, c5));
    fill(b1, async () => {
      const a = await api('/gatehouse/insights/applications?since=7d&top=10');
      return el('div', {}, el('p', {}, el('span', { class: 'big' }, fmtNum(a.total.users)), ' users, ', fmtNum(a.total.signIns), ' sign-ins in ', fmtNum(a.applicationsUsed), ' applications'),
        barChart(a.applications.map((x) => Object.assign({ label: x.appDisplayName || x.appId }, x)), [{ key: 'succeeded', label: 'Succeeded', color: PALETTE.success }, { key: 'interrupted', label: 'Interrupted', color: PALETTE.interrupted }, { key: 'failed', label: 'Failed', color: PALETTE.failure }], 'Sign-ins per application'),
        tableOf(['Application', 'Users', 'Sign-ins'], a.applications.map((x) => [x.appDisplayName || x.appId, fmtNum(x.users), fmtNum(x.signIns)])));
    });
    fill(b2, async () => {
      const f = await api('/gatehouse/insights/failures?since=24h&top=8');
      return el('div', {}, el('p', {}, el('span', { class: 'big bad' }, fmtNum(f.failures)), ' failed sign-ins of ', fmtNum(f.users), ' users; ', fmtNum(f.interrupted), ' interrupted (an expected step, such as MFA)'),
        tableOf(['Code', 'Meaning', 'Failures'], (f.byErrorCode || []).map((x) => [String(x.code), x.meaning || x.name, fmtNum(x.failures)])),
        el('h3', {}, 'By application'), barChart((f.byApplication || []).map((x) => ({ label: x.name || x.value || '(unknown)', failures: x.failures })), [{ key: 'failures', label: 'Failures', color: PALETTE.failure }], 'Failures by application'),
        el('h3', {}, 'By country'), barChart((f.byCountry || []).map((x) => ({ label: x.value || '(unknown)', failures: x.failures })), [{ key: 'failures', label: 'Failures', color: PALETTE.failure }], 'Failures by country'),
        el('h3', {}, 'By user'), tableOf(['User', 'Failures'], (f.byUser || []).map((x) => [x.value || x.name, fmtNum(x.failures)])),
        el('h3', {}, 'By IP address'), tableOf(['IP address', 'Failures'], (f.byIpAddress || []).map((x) => [x.value, fmtNum(x.failures)])));
    });
    fill(b3, async () => {
      const c = await api('/gatehouse/insights/clients?since=7d&top=8');
      return el('div', {}, el('h3', {}, 'Browsers'), barChart(c.browsers.map((x) => ({ label: x.browser || '(none)', signIns: x.signIns })), [{ key: 'signIns', label: 'Sign-ins', color: PALETTE.a }], 'Sign-ins per browser'),
        el('h3', {}, 'Operating systems'), barChart(c.operatingSystems.map((x) => ({ label: x.operatingSystem || '(none)', signIns: x.signIns })), [{ key: 'signIns', label: 'Sign-ins', color: PALETTE.b }], 'Sign-ins per operating system'));
    });
    fill(b4, async () => {
      const w = await api('/gatehouse/insights/workloads?since=7d&top=10');
      return tableOf(['Identity', 'Type', 'Resources', 'Sign-ins', 'Failures', 'Last access'], (w.identities || []).map((x) => [x.servicePrincipalName || x.servicePrincipalId, x.signInType, (x.resources || []).map((r) => r.resourceDisplayName || r.resourceId).join(', '), fmtNum(x.signIns), fmtNum(x.failures), timeCell(x.lastAccess)]));
    });
    fill(b5, async () => {
      const d = await api('/gatehouse/insights/daily?since=30d');
      return dailyChart(d.days, [{ key: 'interactiveUser', label: 'Interactive', color: PALETTE.a }, { key: 'nonInteractiveUser', label: 'Non-interactive', color: PALETTE.c }, { key: 'servicePrincipal', label: 'Service principal', color: PALETTE.b }, { key: 'managedIdentity', label: 'Managed identity', color: PALETTE.d }], 'Sign-ins per day and type');
    });
  }

  function applicationsPage(main, params) {
    const body = page(main, 'Application activity', 'Sign-ins per application (interactive, as Entra counts them, or every type), and any application\'s days.');
    const period = periodSelect(params, 'insights/applications', 'period', PERIODS, 'D7');
    const types = periodSelect(params, 'insights/applications', 'types', [['interactive', 'Interactive sign-ins'], ['all', 'All sign-in types']], 'interactive');
    types.setAttribute('aria-label', 'Sign-in types');
    body.append(el('div', { class: 'toolbar' }, period, types));
    const [c1, b1] = card('apps-summary', 'Applications');
    const [c2, b2] = card('apps-daily', 'Daily sign-ins');
    body.append(el('div', { class: 'cards' }, c1, c2));
    const all = (params.get('types') || 'interactive') === 'all' ? '?signInTypes=all' : '';
    let shown = 0;
    const showDaily = (app) => { const mine = ++shown; return fill(b2, async () => {
      const f = "appId eq '" + app.id.replace(/'/g, "''") + "'";
      const p = new URLSearchParams({ $filter: f });
      if (all) p.set('signInTypes', 'all');
      const d = await api('/beta/reports/applicationSignInDetailedSummary?' + p);
      const byDay = new Map();
      for (const row of d.value || []) {
        const day = row.aggregatedEventDateTime.slice(0, 10);
        const e = byDay.get(day) || { day, success: 0, failure: 0 };
        if (get(row, 'status/errorCode') === 0) e.success += row.signInCount; else e.failure += row.signInCount;
        byDay.set(day, e);
      }
      const days = [...byDay.values()].sort((a, b) => a.day.localeCompare(b.day));
      if (mine !== shown) throw new Stale();
      return el('div', {}, el('p', {}, app.appDisplayName), dailyChart(days, [{ key: 'success', label: 'Success', color: PALETTE.success }, { key: 'failure', label: 'Failure', color: PALETTE.failure }], 'Daily sign-ins of ' + app.appDisplayName));
    }); };
    fill(b1, async () => {
      const s = await api("/beta/reports/getAzureADApplicationSignInSummary(period='" + choice(params, 'period', PERIODS, 'D7') + "')" + all);
      const rows = s.value || [];
      if (rows.length) showDaily(rows[0]); else b2.replaceChildren(el('p', { class: 'muted' }, 'No sign-ins in the period.'));
      return el('div', {}, barChart(rows.slice(0, 10).map((x) => ({ label: x.appDisplayName || x.id, s: x.successfulSignInCount, f: x.failedSignInCount })), [{ key: 's', label: 'Successful', color: PALETTE.success }, { key: 'f', label: 'Failed', color: PALETTE.failure }], 'Top applications'),
        el('table', { id: 'apps-table' }, el('thead', {}, el('tr', {}, ['Application', 'Successful', 'Failed', 'Success %'].map((h) => el('th', { scope: 'col' }, h)))),
          el('tbody', {}, rows.map((x) => { const tr = el('tr', { tabindex: '0' }, el('td', {}, x.appDisplayName || x.id), el('td', { class: 'num' }, fmtNum(x.successfulSignInCount)), el('td', { class: 'num' }, fmtNum(x.failedSignInCount)), el('td', { class: 'num' }, String(x.successPercentage))); tr.addEventListener('click', () => showDaily(x)); tr.addEventListener('keydown', (e) => { if (e.key === 'Enter') { e.preventDefault(); showDaily(x); } }); return tr; }))));
    });
  }

  function adfsPage(main, params) {
    const body = page(main, 'AD FS application activity', 'Relying parties of sign-ins AD FS issued.');
    body.append(el('div', { class: 'toolbar' }, periodSelect(params, 'insights/adfs', 'period', PERIODS, 'D7')));
    const [c, b] = card('adfs', 'Relying parties');
    body.append(c);
    fill(b, async () => {
      const r = await api("/beta/reports/getRelyingPartyDetailedSummary(period='" + choice(params, 'period', PERIODS, 'D7') + "')");
      return tableOf(['Relying party', 'Identifier', 'Federation service', 'Successful', 'Failed', 'Users', 'Success rate'], (r.value || []).map((x) => [x.relyingPartyName, x.relyingPartyId, x.serviceId, fmtNum(x.successfulSignInCount), fmtNum(x.failedSignInCount), fmtNum(x.uniqueUserCount), x.signInSuccessRate + '%']));
    });
  }

  function authMethodsPage(main, params) {
    const body = page(main, 'Authentication methods', 'Methods registered (from the audit log) and used (from sign-ins).');
    body.append(el('div', { class: 'toolbar' }, periodSelect(params, 'insights/authmethods', 'period', PERIODS, 'D30')));
    const [c1, b1] = card('methods-registered', 'Users registered by method');
    const [c2, b2] = card('methods-used', 'Successful sign-ins by method');
    const [c3, b3] = card('methods-users', 'Registration details');
    body.append(el('div', { class: 'cards' }, c1, c2, c3));
    fill(b1, async () => {
      const r = await api('/beta/reports/authenticationMethods/usersRegisteredByMethod()');
      return el('div', {}, el('p', {}, fmtNum(r.totalUserCount), ' users with a registration in the retained audit log'), barChart((r.userRegistrationMethodCounts || []).map((x) => ({ label: x.authenticationMethod, n: x.userCount })), [{ key: 'n', label: 'Users', color: PALETTE.a }], 'Users registered by method'));
    });
    fill(b2, async () => {
      const r = await api("/beta/reports/authenticationMethods/userSignInsByAuthMethodSummary(period='" + choice(params, 'period', PERIODS, 'D30') + "')");
      return barChart((r.value || []).map((x) => ({ label: x.authenticationMethod, n: x.successActivityCount })), [{ key: 'n', label: 'Successful sign-ins', color: PALETTE.c }], 'Successful sign-ins by method');
    });
    fill(b3, async () => {
      const r = await api('/beta/reports/authenticationMethods/userRegistrationDetails?$top=200');
      return tableOf(['User', 'Methods', 'MFA registered', 'Passwordless capable', 'Updated'], (r.value || []).map((x) => [x.userPrincipalName, (x.methodsRegistered || []).join(', '), String(x.isMfaRegistered), String(x.isPasswordlessCapable), timeCell(x.lastUpdatedDateTime)]));
    });
  }

  function servicePrincipalsPage(main) {
    const body = page(main, 'Service principal sign-in activity', 'Last sign-in of each application as a delegated client, delegated resource, application client and application resource.');
    const [c, b] = card('sp-activity', 'Service principals');
    body.append(c);
    const last = (a) => (a ? timeCell(a.lastSignInDateTime) : '');
    fill(b, async () => {
      const r = await api('/beta/reports/servicePrincipalSignInActivities');
      return tableOf(['Application ID', 'Last sign-in', 'Delegated client', 'Delegated resource', 'App-only client', 'App-only resource'], (r.value || []).map((x) => [x.appId, last(x.lastSignInActivity), last(x.delegatedClientSignInActivity), last(x.delegatedResourceSignInActivity), last(x.applicationAuthenticationClientSignInActivity), last(x.applicationAuthenticationResourceSignInActivity)]));
    });
  }

  function credentialsPage(main, params) {
    const body = page(main, 'Application credential activity', 'Credentials service principals signed in with, or the audit log shows added; unused for 90 days or near expiry flagged.');
    const only = periodSelect(params, 'insights/credentials', 'show', [['all', 'Every credential'], ['attention', 'Needing attention']], 'all');
    only.setAttribute('aria-label', 'Show');
    body.append(el('div', { class: 'toolbar' }, only));
    const [c, b] = card('credentials', 'Credentials');
    body.append(c);
    fill(b, async () => {
      const r = await api('/beta/reports/appCredentialSignInActivities');
      let rows = r.value || [];
      if ((params.get('show') || 'all') === 'attention') rows = rows.filter((x) => (x.flags || []).length);
      const flag = (f) => el('span', { class: 'badge ' + (f === 'expired' || f === 'expiresWithin30Days' ? 'bad' : 'warn') }, f);
      return tableOf(['Key ID', 'Type', 'Usage', 'Application ID', 'Sign-ins', 'Last sign-in', 'Created', 'Expires', 'Flags'], rows.map((x) => [x.keyId, x.keyType, x.keyUsage, x.appId, fmtNum(x.signInCount), timeCell(get(x, 'signInActivity/lastSignInDateTime')), timeCell(x.createdDateTime), timeCell(x.expirationDateTime), el('span', {}, (x.flags || []).map(flag))]));
    });
  }

  function riskyUsersPage(main) {
    const body = page(main, 'Risky users', 'Users the risk engine found at risk, with their history; security administrators can dismiss or confirm.');
    const [c, b] = card('risky-users', 'Users');
    body.append(c);
    const canSet = session.me && session.me.maySetRisk;
    const act = async (action, id) => {
      try { await api('/beta/identityProtection/riskyUsers/' + action, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ userIds: [id] }) }); toast('Done.'); load(); } catch (e) { toast(e.message); }
    };
    const load = () => fill(b, async () => {
      const r = await api('/beta/identityProtection/riskyUsers?$top=500');
      return tableOf(['User', 'Risk level', 'State', 'Detail', 'Updated', canSet ? 'Actions' : ''], (r.value || []).map((x) => [x.userPrincipalName, el('span', { class: x.riskLevel === 'high' ? 'bad' : x.riskLevel === 'medium' ? 'warn' : '' }, x.riskLevel || ''), x.riskState, x.riskDetail, timeCell(x.riskLastUpdatedDateTime),
        canSet ? el('span', {}, el('button', { type: 'button', onclick: () => act('dismiss', x.id) }, 'Dismiss'), ' ', el('button', { type: 'button', onclick: () => act('confirmCompromised', x.id) }, 'Confirm compromised')) : '']));
    });
    load();
  }

  document.addEventListener('DOMContentLoaded', start);
})();
