import { Router } from 'express';
import { wantsJson } from '../lib/wants-json.js';
import { formatYuan } from '../lib/money.js';
import { getDashboard } from '../shop/admin-orders.js';
import type { AdminDeps } from './deps.js';
import { renderRevenueChart } from './revenue-chart.js';

export function dashboardPages(deps: AdminDeps): Router {
  const router = Router();

  router.get('/', async (req, res) => {
    const dashboard = await getDashboard(deps.db);
    if (wantsJson(req)) {
      return res.json({
        revenue: {
          today: formatYuan(dashboard.revenueFen.today),
          last7Days: formatYuan(dashboard.revenueFen.last7Days),
          last30Days: formatYuan(dashboard.revenueFen.last30Days),
        },
        byStatus: dashboard.byStatus,
        created: dashboard.created,
        paidRate: dashboard.paidRate,
        flagged: dashboard.flagged,
        daily: dashboard.daily.map((d) => ({ date: d.date, revenue: formatYuan(d.fen) })),
      });
    }
    res.render('admin/dashboard', {
      title: 'Dashboard',
      dashboard,
      chartSvg: renderRevenueChart(dashboard.daily, { title: 'Daily paid revenue, last 30 days (Beijing days, net of refunds)' }),
    });
  });

  return router;
}
