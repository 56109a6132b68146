/**
 * Forget policy: which snapshots a retention policy keeps, and why. Pure: snapshots and a
 * policy in, a decision out; no I/O, and the clock is a parameter.
 *
 * The semantics are restic's `forget` (internal/data/snapshot_policy.go), so a user's policy
 * means the same here:
 * - Snapshots are first split into groups (by host and paths unless told otherwise); the policy
 *   applies to each group on its own.
 * - Within a group, snapshots are taken newest first. keep-last N keeps the N newest; keep-daily
 *   N keeps the newest snapshot of each of the N newest days that have one (hourly, weekly by ISO
 *   week, monthly and yearly alike). Buckets use the snapshot's local time. A count of -1
 *   ("unlimited") keeps one in every bucket. When a time bucket still has counts left at the
 *   oldest snapshot, that one is kept too ("oldest daily snapshot"): it keeps the longest history.
 * - keep-within D keeps every snapshot newer than the newest snapshot's time minus D (the newest
 *   not in the future). keep-tag L keeps every snapshot that has all the tags of the list L.
 * - An empty policy keeps everything; the caller refuses it (isEmptyPolicy) before it gets here.
 */
import { holdfastError } from '../errors/holdfast-error.js';

export interface PolicySnapshot {
  id: string;
  /** ISO 8601, as snapshots store it. */
  time: string;
  hostname: string;
  paths: readonly string[];
  tags: readonly string[];
}

/** A keep-within duration: years, months, days and hours, as restic's "1y5m7d2h" (w = 7 days). */
export interface KeepDuration {
  years: number;
  months: number;
  days: number;
  hours: number;
  /** As the user wrote it, for reasons ("within 7d"). */
  text: string;
}

/** Counts: 0 keeps none by this rule, -1 keeps one in every bucket. */
export interface ForgetPolicy {
  keepLast: number;
  keepHourly: number;
  keepDaily: number;
  keepWeekly: number;
  keepMonthly: number;
  keepYearly: number;
  keepWithin: KeepDuration | null;
  /** Keep a snapshot that has every tag of at least one of these lists. */
  keepTags: readonly (readonly string[])[];
}

export interface GroupBy {
  host: boolean;
  paths: boolean;
  tags: boolean;
}

export interface KeptSnapshot<T extends PolicySnapshot> {
  snapshot: T;
  /** Why, in the order the rules matched: "last snapshot", "daily snapshot", "within 7d", "tag a,b". */
  reasons: string[];
}

export interface PolicyDecision<T extends PolicySnapshot> {
  /** Newest first. */
  keep: KeptSnapshot<T>[];
  /** Newest first. */
  remove: T[];
}

export interface SnapshotGroup<T extends PolicySnapshot> {
  /** What the group's snapshots share: only the fields grouped by are set. */
  key: { hostname?: string; paths?: string[]; tags?: string[] };
  /** Oldest first, as given. */
  snapshots: T[];
}

export const emptyPolicy: ForgetPolicy = { keepLast: 0, keepHourly: 0, keepDaily: 0, keepWeekly: 0, keepMonthly: 0, keepYearly: 0, keepWithin: null, keepTags: [] };

export const defaultGroupBy: GroupBy = { host: true, paths: true, tags: false };

/** No keep rule at all: such a policy would remove every snapshot, so callers refuse it. */
export function isEmptyPolicy(policy: ForgetPolicy): boolean {
  const counts = [policy.keepLast, policy.keepHourly, policy.keepDaily, policy.keepWeekly, policy.keepMonthly, policy.keepYearly];
  return counts.every((count) => count === 0) && policy.keepWithin === null && policy.keepTags.length === 0;
}

/** Largest count a keep option takes; more snapshots than this in one group is not realistic. */
const keepCountMax = 1_000_000_000;

/** "N" (0 or more), or "unlimited" / "-1" for one in every bucket. */
export function parseKeepCount(option: string, text: string): number {
  if (text === 'unlimited' || text === '-1') return -1;
  if (!/^\d+$/.test(text) || Number(text) > keepCountMax) throw usage(option, text, 'give a count (0 or more), or "unlimited"');
  return Number(text);
}

/** "7d", "2w", "1m", "1y", "12h" and combinations ("1y6m", "2w3d12h"); m is months, as restic. */
export function parseKeepDuration(text: string): KeepDuration {
  const duration: KeepDuration = { years: 0, months: 0, days: 0, hours: 0, text };
  const part = /(\d+)([ymwdh])/y;
  let matched = 0;
  let total = 0;
  while (matched < text.length) {
    part.lastIndex = matched;
    const found = part.exec(text);
    if (found === null) break;
    const count = Number(found[1]);
    if (count > keepCountMax) break;
    if (found[2] === 'y') duration.years += count;
    else if (found[2] === 'm') duration.months += count;
    else if (found[2] === 'w') duration.days += 7 * count;
    else if (found[2] === 'd') duration.days += count;
    else duration.hours += count;
    total += count;
    matched = part.lastIndex;
  }
  if (text === '' || matched !== text.length) throw usage('--keep-within', text, 'give a duration such as 7d, 2w, 1m, 1y, 12h or 1y6m');
  if (total === 0) throw usage('--keep-within', text, 'a zero duration keeps nothing; leave the option out instead');
  return duration;
}

/** "a,b" is one list (a snapshot must have both); "" is the empty list, which means "no tags". */
export function parseTagList(text: string): string[] {
  return text.split(',').map((tag) => tag.trim()).filter((tag, index, all) => tag !== '' || all.length === 1);
}

/** "host,paths" and the like; "" groups nothing (every snapshot in one group). */
export function parseGroupBy(text: string): GroupBy {
  const groupBy: GroupBy = { host: false, paths: false, tags: false };
  for (const name of text.split(',').map((part) => part.trim()).filter((part) => part !== '')) {
    if (name === 'host') groupBy.host = true;
    else if (name === 'paths') groupBy.paths = true;
    else if (name === 'tags') groupBy.tags = true;
    else throw usage('--group-by', text, `"${name}" is not one of host, paths, tags`);
  }
  return groupBy;
}

/** True when the snapshot has every tag of the list; the empty list [""] matches an untagged one. */
export function hasTags(snapshot: { tags: readonly string[] }, list: readonly string[]): boolean {
  return list.every((tag) => (tag === '' ? snapshot.tags.length === 0 : snapshot.tags.includes(tag)));
}

/** Splits snapshots into groups with the same host, paths (as a set) and tags (as a set), as chosen. */
export function groupSnapshots<T extends PolicySnapshot>(snapshots: readonly T[], groupBy: GroupBy): SnapshotGroup<T>[] {
  const groups = new Map<string, SnapshotGroup<T>>();
  for (const snapshot of snapshots) {
    const key: SnapshotGroup<T>['key'] = {};
    if (groupBy.host) key.hostname = snapshot.hostname;
    if (groupBy.paths) key.paths = [...snapshot.paths].sort();
    if (groupBy.tags) key.tags = [...snapshot.tags].sort();
    const name = JSON.stringify([key.hostname, key.paths, key.tags]);
    const group = groups.get(name);
    if (group === undefined) groups.set(name, { key, snapshots: [snapshot] });
    else group.snapshots.push(snapshot);
  }
  return [...groups.values()];
}

type Bucketer = (time: Date, position: number) => number;

const bucketRules: readonly { count: (policy: ForgetPolicy) => number; bucket: Bucketer; reason: string }[] = [
  { count: (policy) => policy.keepLast, bucket: (_time, position) => position, reason: 'last snapshot' },
  { count: (policy) => policy.keepHourly, bucket: (time) => ((time.getFullYear() * 100 + time.getMonth() + 1) * 100 + time.getDate()) * 100 + time.getHours(), reason: 'hourly snapshot' },
  { count: (policy) => policy.keepDaily, bucket: (time) => (time.getFullYear() * 100 + time.getMonth() + 1) * 100 + time.getDate(), reason: 'daily snapshot' },
  { count: (policy) => policy.keepWeekly, bucket: isoWeekBucket, reason: 'weekly snapshot' },
  { count: (policy) => policy.keepMonthly, bucket: (time) => time.getFullYear() * 100 + time.getMonth() + 1, reason: 'monthly snapshot' },
  { count: (policy) => policy.keepYearly, bucket: (time) => time.getFullYear(), reason: 'yearly snapshot' },
];

/**
 * Decides, for one group, which snapshots the policy keeps (with every reason) and which it
 * removes. `nowMs` only bounds which snapshot counts as the newest for keep-within: one dated in
 * the future does not move the window.
 */
export function applyPolicy<T extends PolicySnapshot>(snapshots: readonly T[], policy: ForgetPolicy, nowMs: number): PolicyDecision<T> {
  const newestFirst = [...snapshots].sort((a, b) => Date.parse(b.time) - Date.parse(a.time) || b.id.localeCompare(a.id));
  const decision: PolicyDecision<T> = { keep: [], remove: [] };
  const buckets = bucketRules.map((rule) => ({ ...rule, left: rule.count(policy), last: Number.NaN }));
  const withinAfterMs = policy.keepWithin === null ? null : withinStartMs(newestFirst, policy.keepWithin, nowMs);
  newestFirst.forEach((snapshot, position) => {
    const timeMs = Date.parse(snapshot.time);
    const time = new Date(timeMs);
    const reasons: string[] = [];
    for (const list of policy.keepTags) if (hasTags(snapshot, list)) reasons.push(`tag ${list.join(',')}`);
    if (withinAfterMs !== null && timeMs > withinAfterMs) reasons.push(`within ${policy.keepWithin!.text}`);
    const oldest = position === newestFirst.length - 1;
    for (const bucket of buckets) {
      if (bucket.left === 0) continue;
      const value = bucket.bucket(time, position);
      if (value === bucket.last && !oldest) continue;
      reasons.push(value === bucket.last ? `oldest ${bucket.reason}` : bucket.reason);
      bucket.last = value;
      if (bucket.left > 0) bucket.left--;
    }
    if (reasons.length > 0) decision.keep.push({ snapshot, reasons });
    else decision.remove.push(snapshot);
  });
  return decision;
}

/** Snapshots strictly newer than this are within: the newest (not in the future) minus the duration, in local time. */
function withinStartMs(newestFirst: readonly PolicySnapshot[], duration: KeepDuration, nowMs: number): number {
  const newestMs = newestFirst.map((snapshot) => Date.parse(snapshot.time)).find((timeMs) => timeMs < nowMs);
  if (newestMs === undefined) return Number.NEGATIVE_INFINITY;
  const start = new Date(newestMs);
  start.setFullYear(start.getFullYear() - duration.years, start.getMonth() - duration.months, start.getDate() - duration.days);
  return start.getTime() - duration.hours * 3_600_000;
}

/** ISO 8601 week of the local date as year * 100 + week: weeks start on Monday; week 1 holds the year's first Thursday. */
export function isoWeekBucket(time: Date): number {
  const day = new Date(Date.UTC(time.getFullYear(), time.getMonth(), time.getDate()));
  const weekday = day.getUTCDay() === 0 ? 7 : day.getUTCDay();
  day.setUTCDate(day.getUTCDate() + 4 - weekday);
  const year = day.getUTCFullYear();
  const week = Math.floor((day.getTime() - Date.UTC(year, 0, 1)) / 86_400_000 / 7) + 1;
  return year * 100 + week;
}

function usage(option: string, text: string, reason: string): Error {
  return holdfastError('HOLDFAST_USAGE', { operation: `use ${option}`, path: text }, reason);
}
