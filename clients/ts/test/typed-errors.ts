// Must NOT type-check: blog.test.mjs checks that tsc reports these.
import { LimpClient } from '../src/index.js';
import type { Endpoints } from './gen/limp-api.js';

export async function wrong(url: string): Promise<void> {
  const c = await LimpClient.connect<Endpoints>(url);
  await c.call('blog_cat/create', [], { titel: { en_AE: 'Tech' } });
  await c.call('blog/read', [{ views: 'many' }]);
}
