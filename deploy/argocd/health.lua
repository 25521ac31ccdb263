-- Argo CD health check for modelviz.io/ModelVisualizer.
--
-- Argo CD runs this in gopher-lua (Lua 5.1) with only the base, package and table libraries: there is no
-- string, math or os here, so no s:find(), string.format or math.floor. The object arrives as the global obj,
-- converted from JSON: arrays are 1-indexed tables and every number is a float. It works the same with
-- useOpenLibs set (the tests run it both ways).
--
-- Order of the rules (see README.md): generation not yet observed -> Progressing; Stalled=True or Degraded=True
-- -> Degraded; spec.suspend -> Suspended; a gate (a gating benchmark, or an evaluation with quality targets) that
-- did not pass -> Degraded; Reconciling=True, a rollout (Progressing=True) or a gate pending or running ->
-- Progressing; Ready=True -> Healthy;
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
-- out (BenchmarkPassed and QualityPassed excepted: a result stays meaningful until the next one replaces it).
local conditions = {}
if type(status.conditions) == "table" then
  for _, c in ipairs(status.conditions) do
    if type(c) == "table" and type(c.type) == "string" then
      local stale = type(c.observedGeneration) == "number" and type(generation) == "number"
        and c.observedGeneration < generation and c.type ~= "BenchmarkPassed" and c.type ~= "QualityPassed"
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

-- The gates: results that must be in, and good, before the resource counts as done. Each has its spec and status
-- field, the condition holding its verdict, and the prefix of the reasons the operator writes while it waits.
local gates = {
  {field = "benchmark", verdict = "BenchmarkPassed", kind = "Benchmark"},
  {field = "evaluation", verdict = "QualityPassed", kind = "Evaluation"},
}

local function record(gate)
  local found = status[gate.field]
  if type(found) ~= "table" then
    return {}
  end
  return found
end

local function gateName(gate)
  local run = record(gate)
  if gate.field == "evaluation" then
    return "evaluation"
  end
  local name = "benchmark"
  if field(run.runId) ~= nil then
    name = "benchmark " .. field(run.runId)
  end
  if field(run.scenario) ~= nil then
    name = name .. " (" .. field(run.scenario) .. ")"
  end
  return name
end

-- What a gate's latest result says, or nil: a running one first, since an older verdict is about to be replaced;
-- then a result against the targets; then a run that failed without producing a result.
local function note(gate)
  local run = record(gate)
  local name = gateName(gate)
  if run.phase == "Pending" then
    return name .. " pending"
  end
  if run.phase == "Running" then
    return name .. " running"
  end
  local passed = conditions[gate.verdict]
  if isFalse(passed) then
    return name .. " did not pass: " .. describe(passed, "targets missed")
  end
  if run.phase == "Failed" then
    return name .. " failed: " .. describe(run, "no reason given")
  end
  if isTrue(passed) then
    if type(run.bestTop1) == "number" and field(run.bestModel) ~= nil then
      return name .. " passed (best top-1 " .. tostring(run.bestTop1) .. ": " .. field(run.bestModel) .. ")"
    end
    return name .. " passed"
  end
  return nil
end

local function finish(health, message)
  hs.status = health
  for _, gate in ipairs(gates) do
    local text = note(gate)
    if text ~= nil then
      message = message .. "; " .. text
    end
  end
  hs.message = message
  return hs
end

-- Whether a gate holds the resource back: spec.<field>.gate, by default true when targets are set.
local function gating(gate)
  local wanted = spec[gate.field]
  if type(wanted) ~= "table" or spec.suspend == true then
    return false
  end
  if wanted.gate == false then
    return false
  end
  return wanted.gate == true or type(wanted.targets) == "table"
end

-- Where a gate is: Pending, Running, Succeeded or Failed; nil when it does not gate. An evaluation with targets
-- gates from the start (the operator records one as soon as it sees the spec); a benchmark once a run is recorded.
local function gatePhase(gate)
  if not gating(gate) then
    return nil
  end
  local phase = record(gate).phase
  if phase == nil and gate.field == "evaluation" then
    return "Pending"
  end
  return phase
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

-- Gates read from the spec and the results too, so an operator that predates Stalled/Reconciling gates the same way.
for _, gate in ipairs(gates) do
  local phase = gatePhase(gate)
  if isFalse(conditions[gate.verdict]) and (phase == "Succeeded" or phase == "Failed") then
    hs.status = "Degraded"
    hs.message = gateName(gate) .. " gates this resource and did not pass: "
      .. describe(conditions[gate.verdict], "targets missed")
    return hs
  end
end

local reconciling = conditions.Reconciling
if isTrue(reconciling) then
  local message = describe(reconciling, "Reconciling") .. " (" .. replicas() .. ")"
  local reason = reconciling.reason
  if reason == "BenchmarkRunning" or reason == "BenchmarkPending"
    or reason == "EvaluationRunning" or reason == "EvaluationPending" then
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

for _, gate in ipairs(gates) do
  local phase = gatePhase(gate)
  if phase == "Pending" or phase == "Running" then
    hs.status = "Progressing"
    hs.message = gateName(gate) .. " gates this resource and is " .. (phase == "Pending" and "pending" or "running")
    return hs
  end
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
