/**
 * Shows that the forget policy keeps what restic's `forget` keeps, and says why: each keep rule
 * alone (last, hourly, daily, ISO weekly, monthly, yearly, unlimited, within, tags), the "oldest"
 * rule, rules combined, grouping, buckets in local time, and the parsers' refusals.
 *
 * How: snapshots built by hand with local times (new Date(year, month, day, hour)), so every
 * bucket is known in advance, then the exact kept and removed ids and the reasons are compared.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  applyPolicy,
  emptyPolicy,
  groupSnapshots,
  isEmptyPolicy,
  isoWeekBucket,
  parseGroupBy,
  parseKeepCount,
  parseKeepDuration,
  parseTagList,
  type ForgetPolicy,
  type PolicySnapshot,
} from './forget-policy.js';

const farFutureMs = Date.parse('2999-01-01T00:00:00Z');

function snapshot(id: string, time: Date, fields: Partial<PolicySnapshot> = {}): PolicySnapshot {
  return { id, time: time.toISOString(), hostname: 'host', paths: ['/data'], tags: [], ...fields };
}

function policy(fields: Partial<ForgetPolicy>): ForgetPolicy {
  return { ...emptyPolicy, ...fields };
}

function keptIds(snapshots: PolicySnapshot[], rules: Partial<ForgetPolicy>, nowMs = farFutureMs): string[] {
  return applyPolicy(snapshots, policy(rules), nowMs).keep.map((kept) => kept.snapshot.id);
}

/** One snapshot a day at 12:00 local time, 2024-01-01 onwards, ids "d01".."dNN". */
function daily(count: number): PolicySnapshot[] {
  return Array.from({ length: count }, (_, index) => snapshot(`d${String(index + 1).padStart(2, '0')}`, new Date(2024, 0, index + 1, 12)));
}

test('applyPolicy() with keep-last 3 keeps the three newest, whatever their times', () => {
  const decision = applyPolicy(daily(10), policy({ keepLast: 3 }), farFutureMs);
  assert.deepEqual(decision.keep.map((kept) => [kept.snapshot.id, kept.reasons]), [['d10', ['last snapshot']], ['d09', ['last snapshot']], ['d08', ['last snapshot']]]);
  assert.deepEqual(decision.remove.map((removed) => removed.id), ['d07', 'd06', 'd05', 'd04', 'd03', 'd02', 'd01']);
});

test('applyPolicy() with keep-daily 7 over 30 days keeps exactly the newest snapshot of each of the 7 newest days', () => {
  const snapshots = daily(30);
  for (let day = 1; day <= 30; day++) snapshots.push(snapshot(`early${day}`, new Date(2024, 0, day, 6)));
  const decision = applyPolicy(snapshots, policy({ keepDaily: 7 }), farFutureMs);
  assert.deepEqual(decision.keep.map((kept) => kept.snapshot.id), ['d30', 'd29', 'd28', 'd27', 'd26', 'd25', 'd24']);
  assert.ok(decision.keep.every((kept) => kept.reasons.join() === 'daily snapshot'));
  assert.equal(decision.remove.length, 60 - 7);
});

test('applyPolicy() with keep-hourly 5 keeps the newest snapshot of each of the 5 newest hours', () => {
  const snapshots = Array.from({ length: 24 }, (_, index) => snapshot(`m${index}`, new Date(2024, 4, 1, 8 + Math.floor(index / 3), (index % 3) * 20)));
  // Three an hour: m0..m2 at 8:00, 8:20, 8:40; the newest of the hour 15 is m23.
  assert.deepEqual(keptIds(snapshots, { keepHourly: 5 }), ['m23', 'm20', 'm17', 'm14', 'm11']);
});

test('isoWeekBucket() numbers weeks as ISO 8601 does, across year ends', () => {
  assert.equal(isoWeekBucket(new Date(2021, 0, 3)), 202053, 'Sunday 3 January 2021 is in week 53 of 2020');
  assert.equal(isoWeekBucket(new Date(2021, 0, 4)), 202101, 'Monday 4 January 2021 starts week 1');
  assert.equal(isoWeekBucket(new Date(2019, 11, 30)), 202001, 'Monday 30 December 2019 is in week 1 of 2020');
  assert.equal(isoWeekBucket(new Date(2024, 11, 31)), 202501);
  assert.equal(isoWeekBucket(new Date(2024, 5, 16)), 202424, 'a Sunday belongs to the week that began on the Monday before');
});

test('applyPolicy() with keep-weekly 4 keeps one snapshot per ISO week: the newest, then Sundays', () => {
  // 2024-01-01 is a Monday; 52 daily snapshots end on Wednesday 21 February (week 8).
  const decision = applyPolicy(daily(52), policy({ keepWeekly: 4 }), farFutureMs);
  const kept = decision.keep.map((entry) => new Date(entry.snapshot.time));
  assert.deepEqual(kept.map((time) => `${time.getMonth() + 1}-${time.getDate()}`), ['2-21', '2-18', '2-11', '2-4']);
  assert.deepEqual(kept.slice(1).map((time) => time.getDay()), [0, 0, 0], 'the newest of a past week is its Sunday');
  assert.equal(new Set(kept.map(isoWeekBucket)).size, 4);
});

test('applyPolicy() with keep-weekly -1 keeps one snapshot for the ISO week that spans New Year', () => {
  const snapshots = [snapshot('thu', new Date(2020, 11, 31, 12)), snapshot('sun', new Date(2021, 0, 3, 12)), snapshot('mon', new Date(2021, 0, 4, 12)), snapshot('older', new Date(2020, 11, 1, 12))];
  assert.deepEqual(keptIds(snapshots, { keepWeekly: -1 }), ['mon', 'sun', 'older']);
});

test('applyPolicy() with keep-monthly 3 and keep-yearly 2 keeps the newest of each month and year', () => {
  const snapshots: PolicySnapshot[] = [];
  for (const year of [2022, 2023, 2024]) for (let month = 0; month < 12; month++) snapshots.push(snapshot(`${year}-${month + 1}`, new Date(year, month, 15)));
  assert.deepEqual(keptIds(snapshots, { keepMonthly: 3 }), ['2024-12', '2024-11', '2024-10']);
  assert.deepEqual(keptIds(snapshots, { keepYearly: 2 }), ['2024-12', '2023-12']);
  const both = applyPolicy(snapshots, policy({ keepMonthly: 2, keepYearly: 3 }), farFutureMs);
  assert.deepEqual(both.keep.map((kept) => [kept.snapshot.id, kept.reasons]), [
    ['2024-12', ['monthly snapshot', 'yearly snapshot']],
    ['2024-11', ['monthly snapshot']],
    ['2023-12', ['yearly snapshot']],
    ['2022-12', ['yearly snapshot']],
  ]);
});

test('applyPolicy() with an unlimited count (-1) keeps one snapshot in every bucket', () => {
  const snapshots = [...daily(5), snapshot('d05-early', new Date(2024, 0, 5, 6)), snapshot('d03-early', new Date(2024, 0, 3, 6))];
  assert.deepEqual(keptIds(snapshots, { keepDaily: -1 }), ['d05', 'd04', 'd03', 'd02', 'd01']);
});

test('applyPolicy() keeps the oldest snapshot too when a time bucket has counts left, and says so', () => {
  const snapshots = [snapshot('morning', new Date(2024, 0, 1, 8)), snapshot('noon', new Date(2024, 0, 1, 12)), snapshot('evening', new Date(2024, 0, 1, 18))];
  const decision = applyPolicy(snapshots, policy({ keepDaily: 5 }), farFutureMs);
  assert.deepEqual(decision.keep.map((kept) => [kept.snapshot.id, kept.reasons]), [['evening', ['daily snapshot']], ['morning', ['oldest daily snapshot']]]);
  assert.deepEqual(decision.remove.map((removed) => removed.id), ['noon']);
  assert.deepEqual(keptIds(snapshots, { keepDaily: 1 }), ['evening'], 'no count left: the oldest is not kept');
});

test('applyPolicy() with keep-within keeps what is newer than the newest snapshot minus the duration', () => {
  const snapshots = daily(30);
  const decision = applyPolicy(snapshots, policy({ keepWithin: parseKeepDuration('7d') }), farFutureMs);
  // The newest is 30 January 12:00; the window opens at 23 January 12:00, exclusive.
  assert.deepEqual(decision.keep.map((kept) => kept.snapshot.id), ['d30', 'd29', 'd28', 'd27', 'd26', 'd25', 'd24']);
  assert.deepEqual(decision.keep[0]!.reasons, ['within 7d']);
  assert.deepEqual(keptIds(snapshots, { keepWithin: parseKeepDuration('2w') }).length, 14);
  assert.deepEqual(keptIds(snapshots, { keepWithin: parseKeepDuration('1d12h') }), ['d30', 'd29']);
  assert.deepEqual(keptIds(snapshots, { keepWithin: parseKeepDuration('12h') }), ['d30']);
  const monthly = [snapshot('mar31', new Date(2024, 2, 31, 12)), snapshot('mar1', new Date(2024, 2, 1, 12)), snapshot('feb29', new Date(2024, 1, 29, 12, 1))];
  // 31 March minus one month is "31 February", which is 2 March (as Go's AddDate): 1 March is out.
  assert.deepEqual(keptIds(monthly, { keepWithin: parseKeepDuration('1m') }), ['mar31']);
  assert.deepEqual(keptIds(monthly, { keepWithin: parseKeepDuration('1y') }), ['mar31', 'mar1', 'feb29']);
});

test('applyPolicy() measures keep-within from the newest snapshot not in the future', () => {
  const snapshots = [...daily(10), snapshot('future', new Date(2030, 0, 1))];
  const nowMs = new Date(2024, 1, 1).getTime();
  assert.deepEqual(keptIds(snapshots, { keepWithin: parseKeepDuration('2d') }, nowMs), ['future', 'd10', 'd09']);
});

test('applyPolicy() with keep-tag keeps snapshots that have every tag of a list, any list', () => {
  const snapshots = [
    snapshot('ab', new Date(2024, 0, 1), { tags: ['a', 'b'] }),
    snapshot('a', new Date(2024, 0, 2), { tags: ['a'] }),
    snapshot('c', new Date(2024, 0, 3), { tags: ['c', 'x'] }),
    snapshot('none', new Date(2024, 0, 4)),
  ];
  const decision = applyPolicy(snapshots, policy({ keepTags: [parseTagList('a,b'), parseTagList('c')] }), farFutureMs);
  assert.deepEqual(decision.keep.map((kept) => [kept.snapshot.id, kept.reasons]), [['c', ['tag c']], ['ab', ['tag a,b']]]);
  assert.deepEqual(decision.remove.map((removed) => removed.id), ['none', 'a']);
  assert.deepEqual(keptIds(snapshots, { keepTags: [parseTagList('')] }), ['none'], 'the empty list matches an untagged snapshot');
});

test('applyPolicy() gives every reason a kept snapshot matches, tags and within first', () => {
  const snapshots = [...daily(3), snapshot('tagged', new Date(2024, 0, 3, 18), { tags: ['keep'] })];
  const decision = applyPolicy(snapshots, policy({ keepLast: 1, keepDaily: 2, keepWithin: parseKeepDuration('1h'), keepTags: [['keep']] }), farFutureMs);
  assert.deepEqual(decision.keep.map((kept) => [kept.snapshot.id, kept.reasons]), [
    ['tagged', ['tag keep', 'within 1h', 'last snapshot', 'daily snapshot']],
    ['d02', ['daily snapshot']],
  ]);
  assert.deepEqual(decision.remove.map((removed) => removed.id), ['d03', 'd01']);
});

test('applyPolicy() puts snapshots in local-time buckets', (t) => {
  const previous = process.env['TZ'];
  t.after(() => {
    if (previous === undefined) delete process.env['TZ'];
    else process.env['TZ'] = previous;
  });
  // 14:00 and 16:00 UTC on 10 March are one UTC day, but 23:00 on the 10th and 01:00 on the 11th in Tokyo.
  const snapshots = [snapshot('old', new Date('2024-01-01T00:00:00Z')), snapshot('late', new Date('2024-03-10T14:00:00Z')), snapshot('next', new Date('2024-03-10T16:00:00Z'))];
  process.env['TZ'] = 'UTC';
  assert.deepEqual(keptIds(snapshots, { keepDaily: 2 }), ['next', 'old']);
  process.env['TZ'] = 'Asia/Tokyo';
  assert.deepEqual(keptIds(snapshots, { keepDaily: 2 }), ['next', 'late']);
});

test('groupSnapshots() groups by host and paths by default, paths as a set; tags when asked', () => {
  const snapshots = [
    snapshot('1', new Date(2024, 0, 1), { hostname: 'a', paths: ['/x', '/y'] }),
    snapshot('2', new Date(2024, 0, 2), { hostname: 'a', paths: ['/y', '/x'], tags: ['t'] }),
    snapshot('3', new Date(2024, 0, 3), { hostname: 'b', paths: ['/x', '/y'] }),
    snapshot('4', new Date(2024, 0, 4), { hostname: 'a', paths: ['/x'] }),
  ];
  const ids = (groupBy: string): string[][] => groupSnapshots(snapshots, parseGroupBy(groupBy)).map((group) => group.snapshots.map((entry) => entry.id));
  assert.deepEqual(ids('host,paths'), [['1', '2'], ['3'], ['4']]);
  assert.deepEqual(groupSnapshots(snapshots, parseGroupBy('host,paths'))[0]!.key, { hostname: 'a', paths: ['/x', '/y'] });
  assert.deepEqual(ids('host'), [['1', '2', '4'], ['3']]);
  assert.deepEqual(ids('host,paths,tags'), [['1'], ['2'], ['3'], ['4']]);
  assert.deepEqual(ids(''), [['1', '2', '3', '4']]);
});

test('the policy parsers accept restic forms and refuse the rest with HOLDFAST_USAGE', () => {
  assert.equal(parseKeepCount('--keep-last', '3'), 3);
  assert.equal(parseKeepCount('--keep-last', 'unlimited'), -1);
  assert.equal(parseKeepCount('--keep-last', '-1'), -1);
  for (const text of ['-2', 'x', '1.5', '']) assert.throws(() => parseKeepCount('--keep-daily', text), { code: 'HOLDFAST_USAGE' });
  assert.deepEqual(parseKeepDuration('1y6m2w3d12h'), { years: 1, months: 6, days: 17, hours: 12, text: '1y6m2w3d12h' });
  for (const text of ['', '7', 'd', '7x', '0d', '7d ']) assert.throws(() => parseKeepDuration(text), { code: 'HOLDFAST_USAGE' }, text);
  assert.deepEqual(parseTagList('a, b'), ['a', 'b']);
  assert.deepEqual(parseTagList(''), ['']);
  assert.throws(() => parseGroupBy('host,user'), { code: 'HOLDFAST_USAGE' });
  assert.equal(isEmptyPolicy(emptyPolicy), true);
  assert.equal(isEmptyPolicy(policy({ keepTags: [['a']] })), false);
  assert.equal(isEmptyPolicy(policy({ keepYearly: -1 })), false);
});
