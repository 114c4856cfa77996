/*
 * Result thumbnails beside the task nodes. The runtime publishes a JPEG data URL on
 * triton-vision/preview/<node id> after each result of a node whose Preview is on; the picture
 * lives in the node's own <g>, which the view rebuilds whenever the node comes back into sight
 * (tab switch, import), so it is re-attached from the view's hooks. It goes below the node
 * (under its status line) unless another node is there; then to the right, then above.
 */
import {
  NODE_HEIGHT,
  NODE_MIN_WIDTH,
  PREVIEW_MAX_H,
  PREVIEW_MAX_W,
  STATUS_ROOM,
  previewSpot,
  type Box,
} from '../../shared/layout';

const PREVIEW_TOPIC = 'triton-vision/preview/';
const SVG_NS = 'http://www.w3.org/2000/svg';

interface Entry {
  url: string;
  width: number;
  height: number;
}
/** Node id → its latest thumbnail. */
const previews: Record<string, Entry> = {};

function boxOf(n: EditorNode, statusRoom: number): Box {
  const w = n.w ?? NODE_MIN_WIDTH;
  const h = n.h ?? NODE_HEIGHT;
  return { x: n.x - w / 2, y: n.y - h / 2, w, h: h + statusRoom };
}

/** Offset of the picture from the node's top-left corner: the first place nothing covers. */
function placePreview(node: EditorNode, w: number, h: number): { dx: number; dy: number } {
  const others: Box[] = [];
  RED.nodes.eachNode((n) => {
    if (n.id !== node.id && n.z === node.z) others.push(boxOf(n, STATUS_ROOM));
  });
  return previewSpot(boxOf(node, 0), others, w, h);
}

function removePreview(el: PreviewHost | null): void {
  if (el && el.__tritonVisionPreview__) {
    el.__tritonVisionPreview__.remove();
    el.__tritonVisionPreview__ = null;
  }
}

/** Draws (or updates, or removes) the thumbnail of `node` inside its view element `el`. */
function attachPreview(node: EditorNode, el: PreviewHost): void {
  const entry = previews[node.id];
  if (!entry || !node.preview) {
    removePreview(el);
    return;
  }
  const scale = Math.min(1, PREVIEW_MAX_W / entry.width, PREVIEW_MAX_H / entry.height);
  const w = Math.round(entry.width * scale);
  const h = Math.round(entry.height * scale);
  let group = el.__tritonVisionPreview__;
  if (!group) {
    group = document.createElementNS(SVG_NS, 'g');
    group.setAttribute('class', 'triton-vision-preview');
    group.setAttribute('pointer-events', 'none');
    group.appendChild(document.createElementNS(SVG_NS, 'rect'));
    group.appendChild(document.createElementNS(SVG_NS, 'image'));
    el.appendChild(group);
    el.__tritonVisionPreview__ = group;
  }
  const { dx, dy } = placePreview(node, w, h);
  group.setAttribute('transform', `translate(${dx},${dy})`);
  const frame = group.firstChild as SVGRectElement;
  frame.setAttribute('x', '-1');
  frame.setAttribute('y', '-1');
  frame.setAttribute('width', String(w + 2));
  frame.setAttribute('height', String(h + 2));
  const image = group.lastChild as SVGImageElement;
  if (image.getAttribute('href') !== entry.url) image.setAttribute('href', entry.url);
  image.setAttribute('width', String(w));
  image.setAttribute('height', String(h));
}

/** The view element of a node on the visible workspace, if it is drawn. */
function viewElement(node: EditorNode): PreviewHost | null {
  const el = document.getElementById(node.id) as PreviewHost | null;
  return el && el.__data__ === node ? el : null;
}

function showPreview(id: string, url: unknown): void {
  if (typeof url !== 'string' || url.indexOf('data:image/jpeg;base64,') !== 0) return;
  const node = RED.nodes.node(id);
  if (!node || !node.preview) return;
  const img = new Image();
  img.onload = () => {
    previews[id] = { url, width: img.naturalWidth, height: img.naturalHeight };
    const current = RED.nodes.node(id);
    const el = current && viewElement(current);
    if (current && el) attachPreview(current, el);
  };
  img.src = url;
}

/** Subscribes once per editor page. */
export function installPreviews(): void {
  RED.comms.subscribe(`${PREVIEW_TOPIC}#`, (topic, url) => {
    showPreview(String(topic).slice(PREVIEW_TOPIC.length), url);
  });
  if (RED.hooks && RED.hooks.add) {
    const onView = (ev: { node: EditorNode; el: PreviewHost }): void => {
      if (previews[ev.node.id] || ev.el.__tritonVisionPreview__) attachPreview(ev.node, ev.el);
    };
    RED.hooks.add('viewAddNode.triton-vision-preview', onView);
    RED.hooks.add('viewRedrawNode.triton-vision-preview', onView);
  }
  RED.events.on('nodes:change', (node) => {
    if (!node || !previews[node.id] || node.preview) return;
    delete previews[node.id];
    removePreview(viewElement(node));
  });
  RED.events.on('nodes:remove', (node) => {
    if (node) delete previews[node.id];
  });
}
