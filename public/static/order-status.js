// Order page: while the order is UNPAID, poll its JSON every 2 s and update the page in place.
// After ~10 s without news, ask the server to check with Alipay (it rate-limits that per order).
(function () {
  var root = document.getElementById('order');
  if (!root || root.dataset.status !== 'UNPAID') return;
  var started = Date.now();
  var url = '/orders/' + encodeURIComponent(root.dataset.outTradeNo);
  function beijing(iso) {
    var d = new Date(new Date(iso).getTime() + 8 * 3600 * 1000).toISOString();
    return d.slice(0, 10) + ' ' + d.slice(11, 19) + ' (Beijing time)';
  }
  function update(order) {
    var status = document.getElementById('order-status');
    status.textContent = order.status;
    status.className = 'status status-' + order.status;
    root.dataset.status = order.status;
    if (order.paidAt) document.getElementById('order-paid-at').textContent = beijing(order.paidAt);
    if (order.status !== 'UNPAID') {
      var confirming = document.getElementById('confirming');
      if (confirming) confirming.hidden = true;
      var pay = document.getElementById('pay-again');
      if (pay) pay.remove();
    }
  }
  function poll() {
    var check = Date.now() - started >= 10000 ? '?check=1' : '';
    fetch(url + check, { headers: { Accept: 'application/json' }, credentials: 'same-origin' })
      .then(function (res) { return res.ok ? res.json() : null; })
      .then(function (order) {
        if (order) update(order);
        if (root.dataset.status === 'UNPAID' && Date.now() - started < 10 * 60 * 1000) setTimeout(poll, 2000);
      })
      .catch(function () { setTimeout(poll, 5000); });
  }
  setTimeout(poll, 2000);
})();
