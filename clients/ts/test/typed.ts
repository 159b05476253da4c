// Type-checked (not run) by blog.test.mjs against the types --generate-ts writes.
import { LimpClient } from '../src/index.js';
import type { Endpoints, BlogCat } from './gen/limp-api.js';

export async function typed(url: string): Promise<string> {
  const c = await LimpClient.connect<Endpoints>(url);
  const r = await c.call('blog_cat/create', [], { title: { en_AE: 'Tech' } });
  const cat: BlogCat = r.args.docs![0];
  await c.call('blog/read', [{ status: 'published', $limit: 5 }, [{ views: { $gt: 10 } }, { tags: { $in: ['go'] } }]]);
  await c.call('blog/update', [{ _id: cat._id }], { views: { $add: 1 } });
  const w = await c.watch('blog/read', []);
  for await (const ev of w) return ev.args.docs?.[0]?.permalink ?? '';
  return cat.title.en_AE ?? '';
}
