// Loadout: workflows saved with Loadout 0.1's bundled JSON typed the links of the sampler preset / auto sampler
// outputs (sampler_name, scheduler) by KSampler's option list itself, where frontends save "COMBO". Frontend 1.58
// cannot open such a graph (its workflow store's structuredClone throws DataCloneError), so before a graph is
// configured, the list types of links leaving Loadout nodes, and of those nodes' output slots, become "COMBO" (what
// every frontend gives these sockets when the node is created). Nothing else in the graph is touched.
import { app } from "../../scripts/app.js";

function comboTypedLinks(graph) {
  const loadout = new Set((graph?.nodes ?? []).filter((n) => String(n?.type ?? "").startsWith("Loadout"))
    .map((n) => n.id));
  let changed = 0;
  for (const node of graph?.nodes ?? []) {
    if (!loadout.has(node.id)) continue;
    for (const slot of node.outputs ?? []) {
      if (Array.isArray(slot?.type)) { slot.type = "COMBO"; changed++; }
    }
  }
  for (const link of graph?.links ?? []) {
    if (Array.isArray(link) && loadout.has(link[1]) && Array.isArray(link[5])) { link[5] = "COMBO"; changed++; }
    else if (link && !Array.isArray(link) && loadout.has(link.origin_id) && Array.isArray(link.type)) {
      link.type = "COMBO"; changed++;
    }
  }
  for (const sub of graph?.definitions?.subgraphs ?? []) changed += comboTypedLinks(sub);
  return changed;
}

app.registerExtension({
  name: "Loadout.SavedTypes",
  beforeConfigureGraph(graphData) {
    const n = comboTypedLinks(graphData);
    if (n) console.info(`[Loadout] ${n} list-typed socket(s) of Loadout nodes read as COMBO`);
  },
});
