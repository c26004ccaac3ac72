// Live countdown on the sandbox cashier page (the static text is the fallback without JS).
(function () {
  var el = document.getElementById('sandbox-countdown');
  if (!el) return;
  var expiresAt = Date.parse(el.getAttribute('data-expires-at') || '');
  if (isNaN(expiresAt)) return;
  function pad(n) { return (n < 10 ? '0' : '') + n; }
  function tick() {
    var left = Math.max(0, Math.floor((expiresAt - Date.now()) / 1000));
    var d = Math.floor(left / 86400), h = Math.floor((left % 86400) / 3600), m = Math.floor((left % 3600) / 60), s = left % 60;
    el.textContent = left === 0 ? 'expired' : (d > 0 ? d + ' d ' : '') + pad(h) + ':' + pad(m) + ':' + pad(s);
    if (left > 0) setTimeout(tick, 1000);
  }
  tick();
})();
