/**
 * The editor definition of the task nodes (triton-detect / triton-segment / triton-classify):
 * defaults and validators from the option schema, the short label, and the dialog's model
 * list, class list and typed input.
 */
import { TASK_FIELDS, TASK_OPTIONS, type TaskKind } from '../../shared/options';
import { taskLabel } from '../../shared/labels';
import type { ListedModel } from '../../shared/wire';
import { ajaxFailure, bodyForServerNode, post } from './admin';
import { editorDefaults } from './validate';

export function taskNode(task: TaskKind): NodeBehaviour {
  const type = `triton-${task}`;
  return {
    defaults: editorDefaults(type, TASK_OPTIONS, TASK_FIELDS[task], 'node-input'),
    label(this: EditorNode): string {
      return taskLabel(task, this.name, this.model);
    },
    labelStyle(this: EditorNode): string {
      return this.name ? 'node_label_italic' : '';
    },
    oneditprepare(this: EditorNode): void {
      prepareTaskDialog(this, type, task);
    },
    oneditsave(this: EditorNode): void {
      const picked = $('#triton-vision-classes').val();
      this.classes = Array.isArray(picked) ? picked.slice() : [];
    },
  };
}

function option(value: string, text: string, disabled = false): JQ {
  return $('<option></option>').val(value).text(text).prop('disabled', disabled);
}

function matchesBackend(m: ListedModel, filter: string): boolean {
  if (filter === 'any') return true;
  const backend = String(m.backend || '').toLowerCase();
  if (filter === 'tensorrt') return backend === 'tensorrt' || backend === 'tensorrt_plan';
  return backend === filter;
}

function describe(m: ListedModel): string {
  const parts: string[] = [];
  if (m.family) parts.push(m.family);
  if (m.backend) parts.push(m.backend);
  if (m.version) parts.push(`v${m.version}`);
  if (m.state && m.state !== 'READY') parts.push(m.state);
  return m.name + (parts.length ? `  (${parts.join(', ')})` : '');
}

/** Wires the model list, class list and typed input of an open task-node dialog. */
function prepareTaskDialog(node: EditorNode, type: string, task: TaskKind): void {
  const t = (key: string, vars?: Record<string, unknown>): string => node._(`${type}.${key}`, vars);
  const modelSelect = $('#node-input-model');
  const classSelect = $('#triton-vision-classes');
  const statusLine = $('#triton-vision-models-status');
  let listed: ListedModel[] = [];
  let requestSeq = 0;
  let selectedClasses: string[] = Array.isArray(node.classes) ? node.classes.slice() : [];

  $('#node-input-input').typedInput({ default: 'msg', types: ['msg'] });
  prepareStreamRows();
  // Flows saved before a field existed hold no value for its select.
  for (const field of TASK_FIELDS[task]) {
    const rule = TASK_OPTIONS[field];
    const select = $(`#node-input-${field}`);
    if (rule.kind === 'enum' && select.length && !select.val()) select.val(rule.default);
  }

  const backendFilter = (): string => String($('#node-input-backendFilter').val() || 'any');

  function keepCurrent(current: string): void {
    const present = modelSelect.find('option').filter(function () {
      return $(this).val() === current;
    }).length;
    if (current && present === 0) {
      const known = listed.find((m) => m.name === current && m.task === task);
      const why = known
        ? t('models.filteredOne', { name: current })
        : t('models.notOnServer', { name: current });
      modelSelect.append(option(current, why));
    }
    modelSelect.val(current || '');
  }

  /** Why the list has no usable model, most specific first. */
  function emptyReason(ofTask: ListedModel[]): string {
    const missing = listed.find((m) => m.code === 'RUNTIME_MISSING');
    if (missing) return t('models.runtimeMissing', { message: missing.error || '' });
    if (ofTask.length > 0) {
      const key = ofTask.length === 1 ? 'models.filteredSingle' : 'models.filtered';
      return t(key, { count: ofTask.length, task, backend: backendFilter() });
    }
    return t('models.none', { task });
  }

  function renderModels(): void {
    const current = String(modelSelect.val() || node.model || '');
    modelSelect.empty();
    modelSelect.append(option('', ''));
    const seen: Record<string, boolean> = {};
    let usable = 0;
    const others = $('<optgroup></optgroup>');
    const filter = backendFilter();
    const ofTask = listed.filter((m) => m.task === task && !m.error);
    for (const m of listed) {
      if (!matchesBackend(m, filter) || seen[m.name]) continue;
      if (m.task === task && !m.error) {
        seen[m.name] = true;
        usable++;
        modelSelect.append(option(m.name, describe(m)));
      } else if (m.error) {
        others.append(
          option(m.name, `${m.name} — ${t('models.unusable', { reason: m.error })}`, true),
        );
      } else if (m.task) {
        others.append(
          option(m.name, `${m.name} — ${t('models.otherTask', { task: m.task })}`, true),
        );
      }
    }
    if (others.children().length) modelSelect.append(others);
    keepCurrent(current);
    statusLine
      .toggleClass('triton-failed', usable === 0)
      .text(
        usable === 1
          ? t('models.countOne')
          : usable
            ? t('models.count', { count: usable })
            : emptyReason(ofTask),
      );
    renderClasses();
  }

  function chosenModel(): ListedModel | null {
    const name = modelSelect.val();
    return listed.find((m) => m.name === name && m.task === task) ?? null;
  }

  function renderClasses(): void {
    const picked = selectedClasses.slice();
    const labels = chosenModel()?.labels ?? [];
    classSelect.empty();
    const have: Record<string, boolean> = {};
    for (const label of labels) {
      have[label] = true;
      classSelect.append(option(label, label));
    }
    // Classes saved in the flow stay selectable even while the server is unreachable.
    for (const label of picked) if (!have[label]) classSelect.append(option(label, label));
    classSelect.val(picked);
    filterClasses();
  }

  function filterClasses(): void {
    const q = String($('#triton-vision-classes-filter').val() || '').toLowerCase();
    classSelect.find('option').each(function () {
      const el = $(this);
      el.toggle(
        q === '' || el.prop('selected') === true || String(el.val()).toLowerCase().indexOf(q) >= 0,
      );
    });
  }

  let lastRequest = { key: '', at: 0 };

  function loadModels(force: boolean): void {
    const serverId = String($('#node-input-server').val() || '');
    const server = serverId && serverId !== '_ADD_' ? RED.nodes.node(serverId) : null;
    const body = bodyForServerNode(server);
    // Opening the dialog fires 'change' on the server select more than once.
    const key = JSON.stringify(body);
    if (!force && key === lastRequest.key && Date.now() - lastRequest.at < 1000) return;
    lastRequest = { key, at: Date.now() };
    const seq = ++requestSeq;
    if (!server) {
      listed = [];
      renderModels();
      statusLine.text(t('models.noServer'));
      return;
    }
    statusLine.removeClass('triton-failed').text(t('models.loading'));
    post('triton-vision/models', body)
      .done((res) => {
        if (seq !== requestSeq) return;
        listed = ((res as { models?: ListedModel[] } | null)?.models ?? []).slice();
        renderModels();
      })
      .fail((xhr) => {
        if (seq !== requestSeq) return;
        listed = [];
        renderModels();
        const failure = ajaxFailure(xhr);
        const key =
          failure.code === 'RUNTIME_MISSING'
            ? 'models.runtimeMissing'
            : failure.code === 'TRITON_UNAVAILABLE' || failure.code === 'TIMEOUT'
              ? 'models.unreachable'
              : 'models.failed';
        statusLine.addClass('triton-failed').text(t(key, { message: failure.message }));
      });
  }

  keepCurrent(String(node.model || ''));
  renderClasses();
  $('#node-input-server').on('change', () => loadModels(false));
  $('#node-input-backendFilter').on('change', renderModels);
  modelSelect.on('change', renderClasses);
  $('#triton-vision-refresh').on('click', (e) => {
    e.preventDefault();
    loadModels(true);
  });
  classSelect.on('change', () => {
    const v = classSelect.val();
    selectedClasses = Array.isArray(v) ? v.map(String) : [];
  });
  $('#triton-vision-classes-filter').on('input', filterClasses);
  $('#triton-vision-classes-clear').on('click', (e) => {
    e.preventDefault();
    selectedClasses = [];
    classSelect.val([]);
    filterClasses();
  });
  // No explicit first load: Node-RED fires 'change' on #node-input-server once the dialog is
  // ready, which lists the models.
}

/** Stream mode rows: N only for "every Nth", the stream key for either stream mode. */
function prepareStreamRows(): void {
  $('#node-input-streamProperty').typedInput({ default: 'msg', types: ['msg'] });
  const mode = $('#node-input-streamMode');
  const show = (): void => {
    const m = String(mode.val() || 'all');
    $('.triton-vision-stream-nth').toggle(m === 'nth');
    $('.triton-vision-stream-key').toggle(m !== 'all');
  };
  mode.on('change', show);
  show();
}
