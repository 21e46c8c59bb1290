-- The two statements of bench/merge.sh, for sysbench 1.0:
--
--   sysbench bench/merge.lua --query=order|group [--span=S --window=W --base=T]
--     --db-driver=mysql --mysql-… --db-ps-mode=auto|disable --threads=N --time=SECS run
--
-- order: SELECT id, customer_id, amount FROM orders WHERE created >= ?
--        ORDER BY created DESC, id LIMIT 10
--        with a bound drawn uniformly from the newest W seconds of the `created` range
--        (bench/merge.sh gives every row its own second, so about W/2 rows match on average);
-- group: SELECT status, COUNT(*), SUM(amount), AVG(amount) FROM orders GROUP BY status
--
-- Each thread prepares its statement once. With --db-ps-mode=auto (sysbench's default) it is
-- a server-side prepared statement, executed in the binary protocol; with disable sysbench
-- sends the statement as text with the bound value inlined. sysbench reads (and so checks)
-- every row; bench/merge.sh compares the rows themselves before it measures.

sysbench.cmdline.options = {
   query = {"order (ORDER BY created DESC, id LIMIT 10 from a random bound) or group (GROUP BY status)", "order"},
   span = {"seconds from the oldest to the newest `created` (the table's rows)", 1000000},
   window = {"the bound is drawn from the newest WINDOW seconds", 2000},
   base = {"the oldest `created`, as Unix time (UTC)", 1704067200},
}

local ORDER_SQL = "SELECT id, customer_id, amount FROM orders WHERE created >= ? " ..
   "ORDER BY created DESC, id LIMIT 10"
local GROUP_SQL = "SELECT status, COUNT(*), SUM(amount), AVG(amount) FROM orders GROUP BY status"

function thread_init()
   drv = sysbench.sql.driver()
   con = drv:connect()
   query = sysbench.opt.query
   if query == "order" then
      stmt = con:prepare(ORDER_SQL)
      bound = stmt:bind_create(sysbench.sql.type.VARCHAR, 19)
      stmt:bind_param(bound)
      newest = sysbench.opt.base + sysbench.opt.span - 1
   elseif query == "group" then
      stmt = con:prepare(GROUP_SQL)
   else
      error("--query must be order or group, not " .. tostring(query))
   end
end

function event()
   if query == "order" then
      local t = newest - sysbench.rand.uniform(0, sysbench.opt.window)
      bound:set(os.date("!%Y-%m-%d %H:%M:%S", t))
   end
   local rs = stmt:execute()
   if rs ~= nil then
      rs:free()
   end
end

function thread_done()
   stmt:close()
   con:disconnect()
end
