-- Argo CD health check for modelviz.io/ModelVisualizer.
--
-- Argo CD runs this in gopher-lua (Lua 5.1) with only the base, package and table libraries: there is no
-- string, math or os here, so no s:find(), string.format or math.floor. The object arrives as the global obj,
-- converted from JSON: arrays are 1-indexed tables and every number is a float. It works the same with
-- useOpenLibs set (the tests run it both ways).
--
-- Order of the rules (see README.md): generation not yet observed -> Progressing; Stalled=True or Degraded=True
-- -> Degraded; spec.suspend -> Suspended; a gating benchmark that did not pass -> Degraded; Reconciling=True,
-- a rollout (Progressing=True) or a gating benchmark pending or running -> Progressing; Ready=True -> Healthy;
-- Progressing=False with ProgressDeadlineExceeded -> Degraded; anything else -> Progressing. Stalled and
-- Reconciling are the kstatus conditions Flux and kpt read, so all three tools agree.

local hs = {}

-- Integer text for a count or generation: drop any fraction with % (an operator, so it needs no math library);
-- Lua 5.1 and gopher-lua both print whole floats without ".0".
local function int(n)
  if type(n) ~= "number" then
    return nil
  end
  return tostring(n - n % 1)
end

-- A non-empty text field, or nil; a wrong type must not make the script fail (Argo CD would show Unknown).
local function field(v)
  if type(v) == "string" then
    if v == "" then
      return nil
    end
    return v
  end
  if type(v) == "number" then
    return int(v)
  end
  return nil
end

local function describe(c, fallback)
  local reason = field(c.reason)
  local message = field(c.message)
  if reason ~= nil and message ~= nil then
    return reason .. ": " .. message
  end
  return reason or message or fallback
end

-- Booleans are accepted too, so a hand-written status: true is not misread as False.
local function isTrue(c)
  return c ~= nil and (c.status == "True" or c.status == true)
end

local function isFalse(c)
  return c ~= nil and (c.status == "False" or c.status == false)
end

local spec = obj.spec
if type(spec) ~= "table" then
  spec = {}
end
local generation = nil
if type(obj.metadata) == "table" then
  generation = obj.metadata.generation
end

local function waiting()
  hs.status = "Progressing"
  if type(generation) == "number" then
    hs.message = "Waiting for the operator to observe generation " .. int(generation)
  else
    hs.message = "Waiting for the operator to observe the resource"
  end
  return hs
end

local status = obj.status
if type(status) ~= "table" or type(status.observedGeneration) ~= "number" then
  return waiting()
end
if type(generation) == "number" and status.observedGeneration < generation then
  return waiting()
end

-- Conditions by type. One computed for an older generation says nothing about the current spec, so it is left
-- out (BenchmarkPassed excepted: a result stays meaningful until the next run replaces it).
local conditions = {}
if type(status.conditions) == "table" then
  for _, c in ipairs(status.conditions) do
    if type(c) == "table" and type(c.type) == "string" then
      local stale = type(c.observedGeneration) == "number" and type(generation) == "number"
        and c.observedGeneration < generation and c.type ~= "BenchmarkPassed"
      if not stale then
        conditions[c.type] = c
      end
    end
  end
end

local function replicas()
  local ready = int(status.readyReplicas) or "0"
  local total = int(status.replicas) or int(spec.replicas)
  if total == nil then
    return ready .. " replicas ready"
  end
  return ready .. "/" .. total .. " replicas ready"
end

-- What the latest benchmark run says, or nil: a running one first, since an older BenchmarkPassed is about to be
-- replaced; then a result against the targets; then a run that failed without producing a result.
local function benchmark()
  local run = status.benchmark
  if type(run) ~= "table" then
    run = {}
  end
  local name = "benchmark"
  if field(run.runId) ~= nil then
    name = "benchmark " .. field(run.runId)
  end
  if field(run.scenario) ~= nil then
    name = name .. " (" .. field(run.scenario) .. ")"
  end
  if run.phase == "Pending" then
    return name .. " pending"
  end
  if run.phase == "Running" then
    return name .. " running"
  end
  local passed = conditions.BenchmarkPassed
  if isFalse(passed) then
    return name .. " did not pass: " .. describe(passed, "targets missed")
  end
  if run.phase == "Failed" then
    return name .. " failed: " .. describe(run, "no reason given")
  end
  if isTrue(passed) then
    return name .. " passed"
  end
  return nil
end

local function finish(health, message)
  hs.status = health
  local note = benchmark()
  if note ~= nil then
    message = message .. "; " .. note
  end
  hs.message = message
  return hs
end

-- Whether benchmark runs gate the resource: spec.benchmark.gate, by default true when targets are set.
local function gating()
  local bench = spec.benchmark
  if type(bench) ~= "table" or spec.suspend == true then
    return false
  end
  if bench.gate == false then
    return false
  end
  return bench.gate == true or type(bench.targets) == "table"
end

-- The operator's verdict first: Stalled (waiting will not help) names the reason, including a missed gate.
local stalled = conditions.Stalled
if isTrue(stalled) then
  hs.status = "Degraded"
  hs.message = describe(stalled, "Stalled")
  return hs
end

local degraded = conditions.Degraded
if isTrue(degraded) then
  return finish("Degraded", describe(degraded, "Degraded"))
end

-- After Degraded: a broken spec (say an unknown model) stays worth flagging while suspended, but a suspended
-- visualizer has no pods to be ready, so Ready says nothing.
if spec.suspend == true then
  hs.status = "Suspended"
  hs.message = "Suspended: spec.suspend is true, the visualizer is scaled to zero and starts no benchmark"
  return hs
end

-- A gate read from the spec and the run too, so an operator that predates Stalled/Reconciling gates the same way.
local run = status.benchmark
if type(run) ~= "table" then
  run = {}
end
local runName = "benchmark"
if field(run.runId) ~= nil then
  runName = "benchmark " .. field(run.runId)
end
if gating() and isFalse(conditions.BenchmarkPassed) and (run.phase == "Succeeded" or run.phase == "Failed") then
  hs.status = "Degraded"
  hs.message = runName .. " gates this resource and did not pass: " .. describe(conditions.BenchmarkPassed, "targets missed")
  return hs
end

local reconciling = conditions.Reconciling
if isTrue(reconciling) then
  local message = describe(reconciling, "Reconciling") .. " (" .. replicas() .. ")"
  if reconciling.reason == "BenchmarkRunning" or reconciling.reason == "BenchmarkPending" then
    hs.status = "Progressing"
    hs.message = message -- already about the run: no second mention
    return hs
  end
  return finish("Progressing", message)
end

-- Like Argo CD's own Deployment check: a rollout under way is Progressing even while the old pods serve.
local progressing = conditions.Progressing
if isTrue(progressing) then
  return finish("Progressing", describe(progressing, "Progressing") .. " (" .. replicas() .. ")")
end

if gating() and (run.phase == "Pending" or run.phase == "Running") then
  hs.status = "Progressing"
  hs.message = runName .. " gates this resource and is " .. (run.phase == "Pending" and "pending" or "running")
  return hs
end

local ready = conditions.Ready
if isTrue(ready) then
  local message = replicas()
  if field(status.url) ~= nil then
    message = message .. " at " .. field(status.url)
  end
  return finish("Healthy", message)
end

-- Like Argo CD's own Deployment check: a rollout that ran out of time will not finish by waiting.
if isFalse(progressing) and progressing.reason == "ProgressDeadlineExceeded" then
  return finish("Degraded", describe(progressing, "ProgressDeadlineExceeded") .. " (" .. replicas() .. ")")
end
if ready ~= nil then
  return finish("Progressing", describe(ready, "Not ready yet") .. " (" .. replicas() .. ")")
end
return finish("Progressing", "Waiting for the Ready condition (" .. replicas() .. ")")
