/**
 * Loading and unloading models: a model's operations run one at a time; a version's
 * onnxruntime session is created from its file, checked against the config (which is
 * auto-completed from the model where config.pbtxt leaves parts out), and released only
 * once no run is using it.
 */
import * as path from 'node:path';
import { TritonError } from '../../protocol/errors';
import type { ModelConfig } from '../../protocol/types';
import { asTritonError } from './calls';
import { autoComplete, checkConfig, checkModelAgainstConfig } from './config';
import type { OrtRuntime } from './ort';
import { exists, isDir, type ModelEntry, type Repository, type VersionSlot } from './repository';

/** What loading needs from the client that owns the models. */
export interface LoaderHost {
  readonly repository: Repository;
  /** The runtime sessions are created with (loaded on first need). */
  runtime(): { runtime: OrtRuntime; sessionOptions: Record<string, unknown> };
  readonly closed: boolean;
  closedError(model: string): TritonError;
}

export class ModelLoader {
  constructor(private readonly host: LoaderHost) {}

  private get repo(): string {
    return this.host.repository.dir;
  }

  /** Lazy mode's "first use": loads a model nobody has touched, waits for one loading. */
  async ensureLoaded(entry: ModelEntry): Promise<void> {
    if (entry.status === 'NEW') {
      await this.enqueue(entry, () => this.load(entry));
    } else if (entry.status === 'LOADING' || entry.status === 'UNLOADING') {
      await entry.op;
    }
  }

  /** Runs load/unload operations of one model one after another. */
  enqueue(entry: ModelEntry, op: () => Promise<void>): Promise<void> {
    const next = entry.op.then(op, op);
    entry.op = next.catch(() => undefined);
    return next;
  }

  /**
   * (Re)loads a model from disk. A reload that fails leaves an already served
   * model as it was, like Triton.
   */
  async load(entry: ModelEntry): Promise<void> {
    const wasReady = entry.status === 'READY';
    if (!wasReady) {
      entry.status = 'LOADING';
      entry.reason = undefined;
    }
    let config: ModelConfig;
    let slots: VersionSlot[];
    try {
      ({ config, slots } = await this.prepare(entry));
    } catch (err) {
      const failure = asTritonError(err, { model: entry.name, endpoint: this.repo });
      if (wasReady) throw failure;
      const old = entry.slots;
      entry.slots = [];
      entry.status = 'UNAVAILABLE';
      entry.reason = failure.message;
      entry.failure = failure;
      entry.config = undefined;
      await this.release(old);
      return;
    }
    if (!slots.some((s) => s.state === 'READY')) {
      const first = slots.find((s) => s.failure);
      if (wasReady) {
        throw (
          first?.failure ?? new TritonError('INTERNAL', `Model '${entry.name}' failed to reload`)
        );
      }
      const old = entry.slots;
      entry.status = 'UNAVAILABLE';
      entry.reason = first?.reason ?? 'no version could be loaded';
      entry.failure = first?.failure;
      entry.config = config;
      entry.slots = slots;
      await this.release(old);
      return;
    }
    const old = entry.slots;
    entry.config = config;
    entry.slots = slots;
    entry.status = 'READY';
    entry.reason = undefined;
    entry.failure = undefined;
    await this.release(old);
  }

  async unload(entry: ModelEntry): Promise<void> {
    const slots = entry.slots;
    entry.status = 'UNLOADING';
    for (const s of slots) {
      if (s.state === 'READY') s.state = 'UNLOADING';
    }
    await this.release(slots);
    entry.slots = [];
    entry.status = 'UNLOADED';
    entry.reason = 'unloaded';
    entry.failure = undefined;
  }

  /** Waits for each slot's runs to finish, then frees its ORT session. */
  async release(slots: VersionSlot[]): Promise<void> {
    for (const s of slots) {
      if (s.state === 'READY') s.state = 'UNLOADING';
      if (s.inflight > 0) await new Promise<void>((resolve) => (s.drained = resolve));
      const session = s.session;
      s.session = undefined;
      s.state = 'UNAVAILABLE';
      s.reason = s.reason ?? 'unloaded';
      if (session) {
        try {
          await session.release();
        } catch {
          // A session that cannot be released is gone for us either way.
        }
      }
    }
  }

  async prepare(entry: ModelEntry): Promise<{ config: ModelConfig; slots: VersionSlot[] }> {
    if (!(await isDir(entry.dir))) throw this.host.repository.notFound(entry.name);
    const { cfg, tree } = await this.host.repository.readConfig(entry);
    const details = { model: entry.name, endpoint: this.repo };
    if (cfg.backend !== 'onnxruntime') {
      throw new TritonError(
        'UNSUPPORTED',
        `Model '${entry.name}' uses ${cfg.platform || cfg.backend}, but local mode runs ONNX models (platform onnxruntime_onnx) only: serve it with Triton`,
        details,
      );
    }
    const versions = await this.host.repository.versionsToServe(entry, cfg);
    const { runtime: rt, sessionOptions } = this.host.runtime();
    const filename = cfg.default_model_filename || 'model.onnx';
    const slots: VersionSlot[] = [];
    const fail = (version: string, failure: TritonError): void => {
      slots.push({ version, state: 'UNAVAILABLE', reason: failure.message, failure, inflight: 0 });
    };
    for (const version of versions) {
      let file = path.join(entry.dir, version, filename);
      // Triton also accepts a folder named model.onnx holding model.onnx (external weights).
      if (await isDir(file)) file = path.join(file, 'model.onnx');
      if (!(await exists(file))) {
        fail(
          version,
          new TritonError(
            'INVALID_CONFIG',
            `Model file ${file} is missing: export the model there (see models/triton/README.md)`,
            details,
          ),
        );
        continue;
      }
      try {
        const session = await rt.InferenceSession.create(file, { ...sessionOptions });
        slots.push({ version, state: 'READY', session, inflight: 0 });
      } catch (err) {
        fail(
          version,
          new TritonError(
            'INTERNAL',
            `onnxruntime could not load ${file}: ${(err as Error).message}`,
            { ...details, cause: err },
          ),
        );
      }
      if (this.host.closed) {
        await this.release(slots);
        throw this.host.closedError(entry.name);
      }
    }
    const loaded = slots.find((s) => s.session);
    if (loaded && (cfg.input.length === 0 || cfg.output.length === 0)) {
      autoComplete(cfg, loaded.session!, tree);
    }
    const configProblem = checkConfig(cfg);
    for (const slot of slots) {
      if (!slot.session) continue;
      const reason = configProblem ?? checkModelAgainstConfig(cfg, slot.session);
      if (reason) {
        await slot.session.release().catch(() => undefined);
        slot.session = undefined;
        slot.state = 'UNAVAILABLE';
        slot.failure = new TritonError(
          'INVALID_CONFIG',
          `Model '${entry.name}': ${reason}`,
          details,
        );
        slot.reason = slot.failure.message;
      }
    }
    return { config: cfg, slots };
  }
}
