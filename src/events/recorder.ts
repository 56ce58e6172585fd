/**
 * Kubernetes Events (events.k8s.io/v1) about kubekv's Leases, best effort.
 *
 * Guarantees:
 * - record() never blocks, never throws and never waits: it queues the
 *   event and returns. Nothing a write or an election step does waits for
 *   an Event, and no Event failure reaches them.
 * - Bounded: at most {@link QUEUE_LIMIT} events wait (more are dropped),
 *   one request is in flight at a time, each within a deadline, and the
 *   {@link EventThrottle} rate-limits per reason and drops an event
 *   identical to the last one about the same object.
 * - A failure (403 when RBAC does not grant `create` on events.k8s.io
 *   events, a timeout, anything) is logged at debug with the reason and
 *   error code only: no note, no credentials.
 * - close() stops taking events and waits for those queued, at most
 *   {@link CLOSE_FLUSH_MS} in all, so an Event of the last moments (stopped
 *   leading on SIGTERM) usually gets out before the process exits.
 *
 * Non-guarantees: an Event may be lost (dropped, throttled, refused, or the
 * process exits first); Events are for people reading `kubectl describe
 * lease` or `kubectl get events`, never for coordination.
 */
import { keepingProcessAlive, systemClock, type Clock } from '../clock.js';
import { KubekvError } from '../errors.js';
import type { KubeApi, ResourceClient } from '../kube/api.js';
import type { EventObject } from '../kube/types.js';
import { silentLogger, type Logger } from '../logger.js';
import { EventThrottle, type ThrottleOptions } from './throttle.js';

/** Events waiting to be sent, at most. */
export const QUEUE_LIMIT = 32;
/** Most ms one Event request may take. */
export const EVENT_REQUEST_TIMEOUT_MS = 5_000;
/** Most ms close() waits for queued Events (it runs after the Lease is released, so it only delays the process's exit). */
export const CLOSE_FLUSH_MS = 2_000;

/** The Lease an event is about (its `regarding`). */
export interface LeaseReference {
  readonly name: string;
  readonly namespace: string;
  /** The Lease's uid when known: `kubectl describe lease` lists only events that carry it. */
  readonly uid?: string | undefined;
}

/** One event to record. */
export interface EventRecord {
  readonly regarding: LeaseReference;
  readonly type: 'Normal' | 'Warning';
  /** Machine-readable CamelCase reason, e.g. LeaderElection. */
  readonly reason: string;
  /** What was done or failed regarding the Lease, e.g. BecomeLeader. */
  readonly action: string;
  /** Human-readable; never a key or a value. */
  readonly note: string;
  /** Who reports: the replica or lock identity. */
  readonly reportingInstance: string;
}

/** Options of an {@link EventRecorder}. */
export interface EventRecorderOptions {
  /** The port to Kubernetes the Events are created through. */
  api: KubeApi;
  /** Namespace the Events are created in (the Lease's). */
  namespace: string;
  /** reportingController of every Event, e.g. kubekv.dev/state-manager. */
  reportingController: string;
  logger?: Logger | undefined;
  clock?: Clock | undefined;
  throttle?: ThrottleOptions | undefined;
}

/** Sends events.k8s.io/v1 Events, best effort; see the module doc. */
export class EventRecorder {
  readonly #events: ResourceClient<EventObject>;
  readonly #o: EventRecorderOptions;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #throttle: EventThrottle;
  /** Waiting events, each with the wall time it happened (its eventTime, not the time it is sent). */
  readonly #queue: Array<{ event: EventRecord; at: number }> = [];
  /** Aborts the request in flight when close() gives up waiting. */
  readonly #stop = new AbortController();
  #pumping: Promise<void> | undefined;
  #closed = false;
  #seq = 0;

  /** @param options - see {@link EventRecorderOptions}; no request is made here */
  constructor(options: EventRecorderOptions) {
    this.#o = options;
    this.#events = options.api.events(options.namespace);
    this.#log = options.logger ?? silentLogger;
    this.#clock = options.clock ?? systemClock;
    this.#throttle = new EventThrottle(options.throttle);
  }

  /** Queues `event` for sending, unless throttled, a duplicate, the queue is full or the recorder closed. Returns at once; never throws. */
  record(event: EventRecord): void {
    try {
      if (this.#closed) return;
      const { name, namespace } = event.regarding;
      const admission = this.#throttle.admit({ ...event, objectKey: `Lease/${namespace}/${name}` }, this.#clock.monotonic());
      if (admission !== 'send') {
        this.#log.debug({ reason: event.reason, admission }, 'event not recorded');
        return;
      }
      if (this.#queue.length >= QUEUE_LIMIT) {
        this.#log.debug({ reason: event.reason }, 'event not recorded: queue full');
        return;
      }
      this.#queue.push({ event, at: this.#clock.now() });
      this.#pumping ??= this.#pump();
    } catch {
      // Best effort by contract: recording must never fail its caller.
    }
  }

  /** Stops taking events and waits, at most {@link CLOSE_FLUSH_MS} in all, for the queued ones to be sent. Never rejects. */
  async close(): Promise<void> {
    this.#closed = true;
    const pumping = this.#pumping;
    if (!pumping) return;
    const timer = this.#clock.setTimer(() => this.#stop.abort(new Error('event recorder closed')), CLOSE_FLUSH_MS);
    // The wait keeps the process alive, or an exiting process would cut it short anyway.
    await keepingProcessAlive(() => pumping).finally(() => timer.cancel());
  }

  /** Sends queued events one at a time until the queue is empty; never rejects. */
  async #pump(): Promise<void> {
    try {
      for (let queued = this.#queue.shift(); queued; queued = this.#queue.shift()) {
        if (this.#stop.signal.aborted) {
          this.#log.debug({ reason: queued.event.reason, dropped: this.#queue.length + 1 }, 'events not recorded: recorder closed');
          this.#queue.length = 0;
          break;
        }
        await this.#send(queued.event, queued.at);
      }
    } finally {
      this.#pumping = undefined;
    }
  }

  async #send(event: EventRecord, at: number): Promise<void> {
    try {
      await this.#events.create(this.#body(event, at), { signal: this.#stop.signal, timeoutMs: EVENT_REQUEST_TIMEOUT_MS });
    } catch (err) {
      const code = err instanceof KubekvError ? err.code : 'UNKNOWN';
      // Code only: the message of a refused request may quote the body.
      this.#log.debug({ reason: event.reason, code }, 'event not recorded');
    }
  }

  /** The events.k8s.io/v1 Event, named as client-go's events recorder names them (<object>.<unix nanoseconds in hex>). */
  #body(event: EventRecord, at: number): EventObject {
    const suffix = `.${(BigInt(Math.floor(at)) * 1_000_000n + BigInt(this.#seq++ % 1_000_000)).toString(16)}`;
    const base = event.regarding.name.slice(0, 253 - suffix.length).replace(/[-.]+$/, '');
    const { name, namespace, uid } = event.regarding;
    return {
      apiVersion: 'events.k8s.io/v1',
      kind: 'Event',
      metadata: { name: base + suffix, namespace: this.#o.namespace },
      // MicroTime: six fractional digits, or the API server refuses it.
      eventTime: new Date(at).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z'),
      reportingController: this.#o.reportingController,
      // The API server's limits (events.k8s.io/v1 validation): 128 for these, 1 KiB for the note.
      reportingInstance: event.reportingInstance.slice(0, 128),
      action: event.action.slice(0, 128),
      reason: event.reason.slice(0, 128),
      note: event.note.slice(0, 1024),
      type: event.type,
      regarding: { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', name, namespace, ...(uid ? { uid } : {}) },
    };
  }
}
