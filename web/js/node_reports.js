// Loadout: show a node's text report (the `text` of its UI output) on the node itself, read-only.
// Every Loadout node that returns {"ui": {"text": [...]}} gets it; the widget is never saved in the workflow.
import { app } from "../../scripts/app.js";

const REPORT_WIDGET = "loadout_report";

function showReport(node, text) {
  let widget = node.widgets?.find((w) => w.name === REPORT_WIDGET);
  if (!widget) {
    const area = document.createElement("textarea");
    area.readOnly = true;
    area.className = "comfy-multiline-input";
    area.style.opacity = "0.85";
    area.style.fontFamily = "monospace";
    area.style.fontSize = "11px";
    area.dataset.loadoutReport = "1";
    widget = node.addDOMWidget(REPORT_WIDGET, "loadout_report", area, {
      getValue: () => area.value,
      setValue: (v) => {
        area.value = v;
      },
      serialize: false,
    });
    widget.serialize = false;
  }
  widget.value = text;
  const min = node.computeSize?.() ?? node.size;
  node.setSize?.([Math.max(node.size[0], 380), Math.max(node.size[1], min[1] + 120)]);
  node.setDirtyCanvas?.(true, true);
}

app.registerExtension({
  name: "Loadout.NodeReports",
  async beforeRegisterNodeDef(nodeType, nodeData) {
    if (!nodeData?.name?.startsWith("Loadout")) return;
    const onExecuted = nodeType.prototype.onExecuted;
    nodeType.prototype.onExecuted = function (message) {
      onExecuted?.apply(this, arguments);
      const text = message?.text;
      if (text == null) return;
      showReport(this, Array.isArray(text) ? text.join("\n") : String(text));
    };
  },
});
