/**
 * The edit dialogs' HTML templates, built from one row definition per field (the task nodes
 * share every row but their task-specific ones). Text comes from the node's catalog through
 * `data-i18n`; ids follow Node-RED's `node-input-<field>` / `node-config-input-<field>`
 * convention so the editor reads and writes the values itself.
 */
import {
  HEALTH_OPTIONS,
  MODEL_OPTIONS,
  SERVER_OPTIONS,
  TASK_OPTIONS,
  TRACK_OPTIONS,
  type Schema,
  type TaskKind,
} from '../shared/options';

type Prefix = 'node-input' | 'node-config-input';

interface Ctx {
  type: string;
  prefix: Prefix;
  schema: Schema;
}

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/"/g, '&quot;');

function label(c: Ctx, field: string, icon: string): string {
  return (
    `<label for="${c.prefix}-${field}"><i class="fa ${icon}"></i> ` +
    `<span data-i18n="${c.type}.label.${field}"></span></label>`
  );
}

function row(content: string, cls = ''): string {
  return `<div class="form-row${cls ? ` ${cls}` : ''}">${content}</div>`;
}

/** A text input; `width` in CSS, `placeholder` a catalog key under `placeholder.`. */
function text(
  c: Ctx,
  field: string,
  icon: string,
  opts: { width?: string; placeholder?: boolean; type?: string; cls?: string; after?: string } = {},
): string {
  const style = opts.width ? ` style="width:${opts.width}"` : '';
  const ph = opts.placeholder ? ` data-i18n="[placeholder]${c.type}.placeholder.${field}"` : '';
  return row(
    `${label(c, field, icon)}<input type="${opts.type ?? 'text'}" id="${c.prefix}-${field}"${style}${ph} />` +
      (opts.after ?? ''),
    opts.cls,
  );
}

/** A select of the rule's values, each labelled by `<type>.<catalog>.<value>`. */
function select(
  c: Ctx,
  field: string,
  icon: string,
  opts: { width?: string; catalog?: string; cls?: string } = {},
): string {
  const rule = c.schema[field]!;
  if (rule.kind !== 'enum') throw new Error(`${field} is not an enum`);
  const group = opts.catalog ?? field;
  const options = rule.values
    .map((v) => `<option value="${esc(v)}" data-i18n="${c.type}.${group}.${v}"></option>`)
    .join('');
  return row(
    `${label(c, field, icon)}<select id="${c.prefix}-${field}" style="width:${opts.width ?? '70%'}">${options}</select>`,
    opts.cls,
  );
}

function checkbox(c: Ctx, field: string, icon: string, cls = ''): string {
  return row(
    `<label for="${c.prefix}-${field}" class="triton-vision-check">` +
      `<input type="checkbox" id="${c.prefix}-${field}" /> <i class="fa ${icon}"></i> ` +
      `<span data-i18n="${c.type}.label.${field}"></span></label>`,
    cls,
  );
}

function tip(c: Ctx, key: string, cls = ''): string {
  return `<div class="form-tips${cls ? ` ${cls}` : ''}" data-i18n="${c.type}.tip.${key}"></div>`;
}

function form(rows: string[]): string {
  return `<div class="triton-vision-form">\n  ${rows.join('\n  ')}\n</div>`;
}

const TASK_ROWS: Record<TaskKind, (c: Ctx) => string[]> = {
  detect: (c) => thresholds(c),
  segment: (c) => [...thresholds(c), select(c, 'maskFormat', 'fa-picture-o', { width: '200px' })],
  classify: (c) => [
    text(c, 'topK', 'fa-list-ol', { width: '80px' }),
    select(c, 'preprocess', 'fa-crop'),
  ],
};

function thresholds(c: Ctx): string[] {
  return [
    text(c, 'confidence', 'fa-sliders', { width: '80px' }),
    text(c, 'iou', 'fa-object-group', { width: '80px' }),
    text(c, 'maxDetections', 'fa-list-ol', { width: '80px' }),
    checkbox(c, 'agnostic', 'fa-compress'),
  ];
}

export function taskForm(task: TaskKind): string {
  const c: Ctx = { type: `triton-${task}`, prefix: 'node-input', schema: TASK_OPTIONS };
  return form([
    text(c, 'name', 'fa-tag', { placeholder: true }),
    text(c, 'server', 'fa-server'),
    select(c, 'backendFilter', 'fa-filter', { width: '150px', catalog: 'backend' }),
    row(
      `${label(c, 'model', 'fa-cube')}<div class="triton-vision-inline">` +
        `<select id="node-input-model"></select>` +
        `<button type="button" class="red-ui-button" id="triton-vision-refresh" data-i18n="[title]${c.type}.label.refresh"><i class="fa fa-refresh"></i></button></div>`,
    ),
    row(
      `<label>&nbsp;</label><span id="triton-vision-models-status" class="triton-vision-result"></span>`,
    ),
    text(c, 'modelVersion', 'fa-code-fork', { width: '100px', placeholder: true }),
    ...TASK_ROWS[task](c),
    row(
      `<label for="triton-vision-classes"><i class="fa fa-tags"></i> <span data-i18n="${c.type}.label.classes"></span></label>` +
        `<div class="triton-vision-classes"><div class="triton-vision-inline">` +
        `<input type="text" id="triton-vision-classes-filter" />` +
        `<button type="button" class="red-ui-button" id="triton-vision-classes-clear"><span data-i18n="${c.type}.label.classesClear"></span></button></div>` +
        `<select id="triton-vision-classes" multiple size="6"></select></div>`,
    ),
    tip(c, 'classes'),
    row(
      `${label(c, 'labels', 'fa-font')}<textarea id="node-input-labels" rows="2" style="width:70%" data-i18n="[placeholder]${c.type}.placeholder.labels"></textarea>`,
    ),
    text(c, 'labelsFile', 'fa-file-text-o', { width: '70%', placeholder: true }),
    tip(c, 'labels'),
    select(c, 'resizeMode', 'fa-expand'),
    select(c, 'icc', 'fa-adjust'),
    checkbox(c, 'annotate', 'fa-paint-brush'),
    checkbox(c, 'preview', 'fa-eye'),
    text(c, 'input', 'fa-picture-o', { width: '70%' }),
    checkbox(c, 'keepImage', 'fa-clone'),
    text(c, 'concurrency', 'fa-tasks', { width: '80px' }),
    text(c, 'queueLimit', 'fa-inbox', { width: '80px' }),
    select(c, 'dropPolicy', 'fa-random'),
    ...streamRows(c),
    checkbox(c, 'batching', 'fa-cubes'),
    text(c, 'batchSize', 'fa-th-large', { width: '80px' }),
    text(c, 'batchDelay', 'fa-clock-o', {
      width: '100px',
      after: ` <span data-i18n="${c.type}.label.microseconds"></span>`,
    }),
    tip(c, 'batching'),
  ]);
}

/** Stream mode: latest frame only / every Nth frame, per stream key (task nodes). */
function streamRows(c: Ctx): string[] {
  return [
    select(c, 'streamMode', 'fa-video-camera'),
    text(c, 'everyNth', 'fa-step-forward', {
      width: '80px',
      cls: 'triton-vision-stream-nth',
      after: ` <span data-i18n="${c.type}.label.frames"></span>`,
    }),
    text(c, 'streamProperty', 'fa-key', { width: '70%', cls: 'triton-vision-stream-key' }),
    tip(c, 'streamMode'),
  ];
}

export function healthForm(): string {
  const c: Ctx = { type: 'triton-health', prefix: 'node-input', schema: HEALTH_OPTIONS };
  return form([
    text(c, 'name', 'fa-tag', { placeholder: true }),
    text(c, 'server', 'fa-server'),
    row(
      `${label(c, 'models', 'fa-cubes')}<input type="text" id="node-input-models" list="triton-health-model-list" data-i18n="[placeholder]triton-health.placeholder.models" />` +
        `<datalist id="triton-health-model-list"></datalist>`,
    ),
    text(c, 'interval', 'fa-repeat', {
      width: '80px',
      after: ` <span data-i18n="triton-health.label.seconds"></span>`,
    }),
    tip(c, 'interval'),
    select(c, 'emit', 'fa-share'),
    checkbox(c, 'statistics', 'fa-bar-chart'),
    tip(c, 'statistics'),
  ]);
}

export function modelForm(): string {
  const c: Ctx = { type: 'triton-model', prefix: 'node-input', schema: MODEL_OPTIONS };
  return form([
    text(c, 'name', 'fa-tag', { placeholder: true }),
    text(c, 'server', 'fa-server'),
    select(c, 'action', 'fa-cogs'),
    row(
      `${label(c, 'model', 'fa-cube')}<input type="text" id="node-input-model" list="triton-model-model-list" data-i18n="[placeholder]triton-model.placeholder.model" />` +
        `<datalist id="triton-model-model-list"></datalist>`,
      'triton-model-named',
    ),
    tip(c, 'control'),
  ]);
}

export function serverForm(): string {
  const c: Ctx = { type: 'triton-server', prefix: 'node-config-input', schema: SERVER_OPTIONS };
  return form([
    text(c, 'name', 'fa-tag', { placeholder: true }),
    select(c, 'mode', 'fa-plug'),
    text(c, 'host', 'fa-server', { placeholder: true, cls: 'triton-server-remote' }),
    text(c, 'grpcPort', 'fa-hashtag', { width: '100px', cls: 'triton-server-grpc' }),
    text(c, 'httpPort', 'fa-hashtag', { width: '100px', cls: 'triton-server-http' }),
    text(c, 'modelRepository', 'fa-folder-open', {
      placeholder: true,
      cls: 'triton-server-local',
    }),
    tip(c, 'local', 'triton-server-local'),
    row(
      `${label(c, 'replicas', 'fa-clone')}<textarea id="node-config-input-replicas" rows="3" style="width:70%" data-i18n="[placeholder]triton-server.placeholder.replicas"></textarea>`,
      'triton-server-remote',
    ),
    tip(c, 'replicas', 'triton-server-remote'),
    text(c, 'pathPrefix', 'fa-sitemap', { placeholder: true, cls: 'triton-server-http' }),
    text(c, 'hostHeader', 'fa-globe', { placeholder: true, cls: 'triton-server-remote' }),
    tip(c, 'ingress', 'triton-server-remote'),
    text(c, 'timeout', 'fa-clock-o', {
      width: '80px',
      after: ` <span data-i18n="triton-server.label.seconds"></span>`,
    }),
    checkbox(c, 'tls', 'fa-lock', 'triton-server-remote'),
    text(c, 'tlsConfig', 'fa-lock', { cls: 'triton-server-tls' }),
    select(c, 'authType', 'fa-key', { catalog: 'auth', cls: 'triton-server-remote' }),
    text(c, 'token', 'fa-ticket', { type: 'password', cls: 'triton-server-auth-bearer' }),
    text(c, 'username', 'fa-user', { cls: 'triton-server-auth-basic' }),
    text(c, 'password', 'fa-lock', { type: 'password', cls: 'triton-server-auth-basic' }),
    text(c, 'authHeader', 'fa-header', { placeholder: true, cls: 'triton-server-auth-header' }),
    text(c, 'headerValue', 'fa-lock', { type: 'password', cls: 'triton-server-auth-header' }),
    checkbox(c, 'modelControl', 'fa-wrench'),
    row(
      `<label>&nbsp;</label><button type="button" class="red-ui-button" id="triton-server-test"><i class="fa fa-stethoscope"></i> <span data-i18n="triton-server.label.test"></span></button>` +
        `<div id="triton-server-test-result" class="triton-vision-result"></div>`,
    ),
  ]);
}

/** A textarea of coordinates, one item per row (lines or zones). */
function coordinates(c: Ctx, field: string, icon: string): string {
  return row(
    `${label(c, field, icon)}<textarea id="${c.prefix}-${field}" rows="3" style="width:70%; font-family: monospace;" data-i18n="[placeholder]${c.type}.placeholder.${field}"></textarea>`,
  );
}

export function trackForm(): string {
  const c: Ctx = { type: 'triton-track', prefix: 'node-input', schema: TRACK_OPTIONS };
  return form([
    text(c, 'name', 'fa-tag', { placeholder: true }),
    text(c, 'streamProperty', 'fa-video-camera', { width: '70%' }),
    tip(c, 'stream'),
    text(c, 'trackThreshold', 'fa-sliders', { width: '80px' }),
    text(c, 'matchThreshold', 'fa-object-group', { width: '80px' }),
    text(c, 'lostBuffer', 'fa-history', {
      width: '80px',
      after: ` <span data-i18n="triton-track.label.frames"></span>`,
    }),
    text(c, 'frameRate', 'fa-film', {
      width: '80px',
      after: ` <span data-i18n="triton-track.label.fps"></span>`,
    }),
    coordinates(c, 'lines', 'fa-arrows-h'),
    coordinates(c, 'zones', 'fa-square-o'),
    tip(c, 'geometry'),
    checkbox(c, 'annotate', 'fa-paint-brush'),
    checkbox(c, 'crops', 'fa-crop'),
    text(c, 'cropPadding', 'fa-expand', {
      width: '80px',
      cls: 'triton-track-crops',
      after: ` <span data-i18n="triton-track.label.pixels"></span>`,
    }),
    text(c, 'cropMinSize', 'fa-compress', {
      width: '80px',
      cls: 'triton-track-crops',
      after: ` <span data-i18n="triton-track.label.pixels"></span>`,
    }),
    checkbox(c, 'split', 'fa-th-large'),
    tip(c, 'outputs'),
  ]);
}

/** Styles of the dialogs and previews (in triton-server.html, loaded once). */
export const STYLE = `
.triton-vision-result { margin-top: 6px; white-space: pre-wrap; word-break: break-word; }
.triton-vision-result.triton-ok { color: var(--red-ui-text-color-success, #3a8b3a); }
.triton-vision-result.triton-failed { color: var(--red-ui-text-color-error, #b83535); }
.triton-vision-form .form-row > label { width: 130px; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; vertical-align: top; }
.triton-vision-form .form-row input[type='checkbox'] { width: auto; vertical-align: top; margin-left: 0; }
.triton-vision-form .form-row > label.triton-vision-check { width: auto; }
.triton-vision-inline { display: inline-flex; width: 65%; gap: 4px; }
.triton-vision-inline > select, .triton-vision-inline > input { flex: 1 1 auto; min-width: 0; }
.triton-vision-classes { display: inline-block; width: 65%; }
.triton-vision-classes > .triton-vision-inline { width: 100%; margin-bottom: 4px; }
.triton-vision-classes > select { width: 100%; }
.triton-vision-preview rect { fill: var(--red-ui-view-background, #fff); stroke: var(--red-ui-node-border, #999); stroke-width: 1; }
`;
