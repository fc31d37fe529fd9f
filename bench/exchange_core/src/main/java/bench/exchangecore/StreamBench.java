package bench.exchangecore;

import exchange.core2.collections.objpool.ObjectsPool;
import exchange.core2.core.common.CoreSymbolSpecification;
import exchange.core2.core.common.IOrder;
import exchange.core2.core.common.MatcherEventType;
import exchange.core2.core.common.MatcherTradeEvent;
import exchange.core2.core.common.OrderAction;
import exchange.core2.core.common.OrderType;
import exchange.core2.core.common.SymbolType;
import exchange.core2.core.common.cmd.CommandResultCode;
import exchange.core2.core.common.cmd.OrderCommand;
import exchange.core2.core.common.cmd.OrderCommandType;
import exchange.core2.core.common.config.LoggingConfiguration;
import exchange.core2.core.orderbook.IOrderBook;
import exchange.core2.core.orderbook.OrderBookDirectImpl;
import exchange.core2.core.orderbook.OrderBookEventsHelper;
import exchange.core2.core.orderbook.OrderBookNaiveImpl;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.PrintWriter;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Supplier;

/**
 * Runs exchange-core 0.5.3's OrderBookNaiveImpl and OrderBookDirectImpl on a stream file
 * written by {@code bench/engine.py --stream-file}, and checks that both trade alike.
 *
 * <pre>java -jar target/exchange-core-bench.jar STREAM [--passes N] [--warmup W]
 *     [--replace cancel-place|move] [--trades-out PREFIX]</pre>
 *
 * <p>The file's prices are ticks and sizes lots: the books only compare and add them, so
 * a spec with both scales at 1 sees exactly the engine's market. One reused OrderCommand
 * goes through {@code IOrderBook.processCommand} per command, as exchange-core's pipeline
 * hands a ring-buffer slot to its matching engine; the prefill is applied untimed.
 *
 * <p>A stream cancel-replace (new order id, price and size; priority lost) is, with
 * {@code --replace cancel-place} (the default), CANCEL_ORDER then PLACE_ORDER GTC: the
 * engine's own semantics, so the trades should equal bench/engine.py's. With
 * {@code --replace move} it is exchange-core's native MOVE_ORDER, which keeps the order's
 * id and remaining size: cheaper, but a different stream (later commands naming the new id
 * are sent to the moved order; trades are reported under the stream's ids).
 *
 * <p>Timing: the current thread's CPU time (ThreadMXBean), the process's (garbage
 * collector and JIT compiler included) and wall time, best of the timed passes.
 * {@code --trades-out PREFIX} writes each book's trades to PREFIX.naive.csv and
 * PREFIX.direct.csv (maker id, taker id, price, size per line) to find where streams part. The last output line is JSON; the exit status is 1 when the two books
 * disagree on the trades (count, lots or the digest of maker id, taker id, price, size).
 */
public final class StreamBench {

    private static final byte PLACE = 'P';
    private static final byte CANCEL = 'C';
    private static final byte REPLACE = 'M';
    private static final byte REDUCE = 'R';
    // Bids carry no hold price: this harness has no risk engine, so no move is refused.
    private static final long NO_BID_CAP = Long.MAX_VALUE;

    private final int prefill;
    private final int total;
    private final byte[] op;
    private final long[] orderId;
    private final long[] userId;
    private final boolean[] buy;
    private final long[] price;
    private final long[] size;
    private final boolean[] ioc;
    private final long[] newOrderId;
    private final boolean nativeMove;

    private StreamBench(Path file, boolean nativeMove) throws IOException {
        this.nativeMove = nativeMove;
        List<String> lines = new ArrayList<>();
        int prefillCount;
        try (BufferedReader in = Files.newBufferedReader(file, StandardCharsets.US_ASCII)) {
            String header = in.readLine();
            if (header == null || !header.startsWith("# exchange-stream v1 ")) {
                throw new IOException(file + ": not an exchange-stream v1 file");
            }
            prefillCount = Integer.parseInt(in.readLine().split(" ")[1]);
            for (String line = in.readLine(); line != null; line = in.readLine()) {
                lines.add(line);
            }
        }
        prefill = prefillCount;
        total = lines.size();
        op = new byte[total];
        orderId = new long[total];
        userId = new long[total];
        buy = new boolean[total];
        price = new long[total];
        size = new long[total];
        ioc = new boolean[total];
        newOrderId = new long[total];
        Map<Long, Boolean> sideOf = new HashMap<>();
        // With native moves an order keeps its first id: stream ids map to that one.
        Map<Long, Long> bookIdOf = new HashMap<>();
        for (int i = 0; i < total; i++) {
            String[] f = lines.get(i).split(",");
            op[i] = (byte) f[0].charAt(0);
            long id = Long.parseLong(f[1]);
            orderId[i] = nativeMove ? bookIdOf.getOrDefault(id, id) : id;
            userId[i] = Long.parseLong(f[2]);
            switch (op[i]) {
                case PLACE -> {
                    buy[i] = f[3].equals("B");
                    price[i] = Long.parseLong(f[4]);
                    size[i] = Long.parseLong(f[5]);
                    ioc[i] = f[6].equals("IOC");
                    sideOf.put(id, buy[i]);
                }
                case CANCEL -> buy[i] = sideOf.getOrDefault(id, false);
                case REPLACE -> {
                    newOrderId[i] = Long.parseLong(f[3]);
                    price[i] = Long.parseLong(f[4]);
                    size[i] = Long.parseLong(f[5]);
                    buy[i] = sideOf.getOrDefault(id, false);
                    sideOf.put(newOrderId[i], buy[i]);
                    if (nativeMove) {
                        bookIdOf.put(newOrderId[i], orderId[i]);
                    }
                }
                case REDUCE -> size[i] = Long.parseLong(f[3]);
                default -> throw new IOException("unknown stream line: " + lines.get(i));
            }
        }
    }

    /** Trades seen in one pass over the timed part. */
    private static final class Trades {
        long count;
        long lots;
        final MessageDigest digest;
        final ByteBuffer record = ByteBuffer.allocate(32);
        // Each trade as "maker,taker,price,size", when asked for (--trades-out).
        List<String> lines;
        // Native moves only: the stream id an order (by its book id) is known by now.
        final Map<Long, Long> streamIdOf = new HashMap<>();

        Trades(boolean withDigest) {
            try {
                digest = withDigest ? MessageDigest.getInstance("SHA-256") : null;
            } catch (NoSuchAlgorithmException e) {
                throw new IllegalStateException(e);
            }
        }

        String hex() {
            StringBuilder out = new StringBuilder();
            for (byte b : digest.digest()) {
                out.append(String.format("%02x", b));
            }
            return out.toString();
        }
    }

    private static CoreSymbolSpecification spec() {
        return CoreSymbolSpecification.builder()
                .symbolId(1)
                .type(SymbolType.CURRENCY_EXCHANGE_PAIR)
                .baseCurrency(1)
                .quoteCurrency(2)
                .baseScaleK(1)
                .quoteScaleK(1)
                .takerFee(0)
                .makerFee(0)
                .build();
    }

    private static IOrderBook newBook(String impl) {
        return switch (impl) {
            case "naive" -> new OrderBookNaiveImpl(spec(), ObjectsPool.createDefaultTestPool(),
                    OrderBookEventsHelper.NON_POOLED_EVENTS_HELPER, LoggingConfiguration.DEFAULT);
            case "direct" -> new OrderBookDirectImpl(spec(), ObjectsPool.createDefaultTestPool(),
                    OrderBookEventsHelper.NON_POOLED_EVENTS_HELPER, LoggingConfiguration.DEFAULT);
            default -> throw new IllegalArgumentException(impl);
        };
    }

    private static void send(IOrderBook book, OrderCommand cmd, Trades trades, long takerId) {
        cmd.matcherEvent = null;
        IOrderBook.processCommand(book, cmd);
        for (MatcherTradeEvent e = cmd.matcherEvent; e != null; e = e.nextEvent) {
            if (e.eventType != MatcherEventType.TRADE) {
                continue;
            }
            trades.count++;
            trades.lots += e.size;
            if (trades.digest != null) {
                long maker = trades.streamIdOf.getOrDefault(e.matchedOrderId, e.matchedOrderId);
                trades.record.clear();
                trades.record.putLong(maker).putLong(takerId).putLong(e.price).putLong(e.size);
                trades.digest.update(trades.record.array());
                if (trades.lines != null) {
                    trades.lines.add(maker + "," + takerId + "," + e.price + "," + e.size);
                }
            }
        }
    }

    private void place(IOrderBook book, OrderCommand cmd, Trades trades, long id, long uid,
                       boolean isBuy, long px, long qty, boolean isIoc) {
        cmd.command = OrderCommandType.PLACE_ORDER;
        cmd.orderId = id;
        cmd.uid = uid;
        cmd.price = px;
        cmd.reserveBidPrice = NO_BID_CAP;
        cmd.size = qty;
        cmd.action = isBuy ? OrderAction.BID : OrderAction.ASK;
        cmd.orderType = isIoc ? OrderType.IOC : OrderType.GTC;
        cmd.resultCode = CommandResultCode.VALID_FOR_MATCHING_ENGINE;
        send(book, cmd, trades, id);
    }

    private void apply(IOrderBook book, OrderCommand cmd, Trades trades, int i) {
        long id = orderId[i];
        long uid = userId[i];
        switch (op[i]) {
            case PLACE -> place(book, cmd, trades, id, uid, buy[i], price[i], size[i], ioc[i]);
            case CANCEL -> {
                cmd.command = OrderCommandType.CANCEL_ORDER;
                cmd.orderId = id;
                cmd.uid = uid;
                send(book, cmd, trades, id);
            }
            case REPLACE -> {
                if (nativeMove) {
                    cmd.command = OrderCommandType.MOVE_ORDER;
                    cmd.orderId = id;
                    cmd.uid = uid;
                    cmd.price = price[i];
                    if (trades.digest != null) {
                        trades.streamIdOf.put(id, newOrderId[i]);
                    }
                    send(book, cmd, trades, newOrderId[i]);
                } else {
                    cmd.command = OrderCommandType.CANCEL_ORDER;
                    cmd.orderId = id;
                    cmd.uid = uid;
                    cmd.matcherEvent = null;
                    // Like the engine: no replacement when the old order was not open.
                    if (IOrderBook.processCommand(book, cmd) == CommandResultCode.SUCCESS) {
                        place(book, cmd, trades, newOrderId[i], uid, buy[i], price[i], size[i],
                                false);
                    }
                }
            }
            case REDUCE -> {
                // The stream gives the new original size; exchange-core takes the amount.
                IOrder order = book.getOrderById(id);
                if (order != null && order.getSize() > size[i]) {
                    cmd.command = OrderCommandType.REDUCE_ORDER;
                    cmd.orderId = id;
                    cmd.uid = uid;
                    cmd.size = order.getSize() - size[i];
                    send(book, cmd, trades, id);
                }
            }
            default -> throw new IllegalStateException("op " + op[i]);
        }
    }

    /**
     * One pass: fresh book, untimed prefill, timed stream. Returns {thread CPU ns, wall ns,
     * process CPU ns}: the process's also counts the JVM's garbage collector and compiler.
     */
    private long[] pass(String impl, Trades trades) {
        IOrderBook book = newBook(impl);
        OrderCommand cmd = new OrderCommand();
        Trades ignored = new Trades(false);
        for (int i = 0; i < prefill; i++) {
            apply(book, cmd, ignored, i);
        }
        ThreadMXBean threads = ManagementFactory.getThreadMXBean();
        var os = (com.sun.management.OperatingSystemMXBean)
                ManagementFactory.getOperatingSystemMXBean();
        long process0 = os.getProcessCpuTime();
        long cpu0 = threads.getCurrentThreadCpuTime();
        long wall0 = System.nanoTime();
        for (int i = prefill; i < total; i++) {
            apply(book, cmd, trades, i);
        }
        long wall = System.nanoTime() - wall0;
        long cpu = threads.getCurrentThreadCpuTime() - cpu0;
        return new long[] {cpu, wall, os.getProcessCpuTime() - process0};
    }

    private Map<String, Object> measure(String impl, int warmup, int passes, Path tradesOut)
            throws IOException {
        Trades checked = new Trades(true);
        if (tradesOut != null) {
            checked.lines = new ArrayList<>();
        }
        pass(impl, checked);
        if (tradesOut != null) {
            try (PrintWriter out = new PrintWriter(Files.newBufferedWriter(tradesOut))) {
                checked.lines.forEach(out::println);
            }
        }
        for (int w = 1; w < warmup; w++) {
            pass(impl, new Trades(false));
        }
        long bestCpu = Long.MAX_VALUE;
        long bestWall = Long.MAX_VALUE;
        long bestProcess = Long.MAX_VALUE;
        for (int p = 0; p < passes; p++) {
            Trades counted = new Trades(false);
            long[] times = pass(impl, counted);
            if (counted.count != checked.count || counted.lots != checked.lots) {
                throw new IllegalStateException(impl + ": passes over one stream traded differently");
            }
            bestCpu = Math.min(bestCpu, times[0]);
            bestWall = Math.min(bestWall, times[1]);
            bestProcess = Math.min(bestProcess, times[2]);
        }
        int commands = total - prefill;
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("cpu_seconds", bestCpu / 1e9);
        out.put("cpu_ops_per_s", Math.round(commands / (bestCpu / 1e9)));
        out.put("process_cpu_seconds", bestProcess / 1e9);
        out.put("process_cpu_ops_per_s", Math.round(commands / (bestProcess / 1e9)));
        out.put("seconds", bestWall / 1e9);
        out.put("ops_per_s", Math.round(commands / (bestWall / 1e9)));
        out.put("trades", checked.count);
        out.put("traded_lots", checked.lots);
        out.put("trades_digest", checked.hex());
        return out;
    }

    private static String json(Object value) {
        if (value instanceof Map<?, ?> map) {
            List<String> parts = new ArrayList<>();
            map.forEach((k, v) -> parts.add(json(k) + ": " + json(v)));
            return "{" + String.join(", ", parts) + "}";
        }
        if (value instanceof String s) {
            return "\"" + s.replace("\\", "\\\\").replace("\"", "\\\"") + "\"";
        }
        return String.valueOf(value);
    }

    public static void main(String[] args) throws IOException {
        if (args.length < 1) {
            System.err.println("usage: StreamBench STREAM [--passes N] [--warmup W] "
                    + "[--replace cancel-place|move] [--trades-out PREFIX]");
            System.exit(2);
        }
        int passes = 5;
        int warmup = 3;
        String replace = "cancel-place";
        String tradesOut = null;
        for (int a = 1; a + 1 < args.length; a += 2) {
            switch (args[a]) {
                case "--passes" -> passes = Integer.parseInt(args[a + 1]);
                case "--warmup" -> warmup = Integer.parseInt(args[a + 1]);
                case "--replace" -> replace = args[a + 1];
                case "--trades-out" -> tradesOut = args[a + 1];
                default -> throw new IllegalArgumentException("unknown option " + args[a]);
            }
        }
        if (!replace.equals("cancel-place") && !replace.equals("move")) {
            throw new IllegalArgumentException("--replace is cancel-place or move");
        }
        Path file = Path.of(args[0]);
        StreamBench bench = new StreamBench(file, replace.equals("move"));
        Map<String, Object> naive = bench.measure("naive", warmup, passes,
                tradesOut == null ? null : Path.of(tradesOut + ".naive.csv"));
        Map<String, Object> direct = bench.measure("direct", warmup, passes,
                tradesOut == null ? null : Path.of(tradesOut + ".direct.csv"));
        boolean agree = naive.get("trades").equals(direct.get("trades"))
                && naive.get("traded_lots").equals(direct.get("traded_lots"))
                && naive.get("trades_digest").equals(direct.get("trades_digest"));
        Supplier<String> line = () -> String.format(Locale.ROOT,
                "naive %,d cmds per CPU s, direct %,d; %d trades, %d lots; books %s",
                naive.get("cpu_ops_per_s"), direct.get("cpu_ops_per_s"), naive.get("trades"),
                naive.get("traded_lots"), agree ? "agree" : "DISAGREE");
        System.out.println(line.get());
        Map<String, Object> result = new LinkedHashMap<>();
        result.put("stream_file", file.toString());
        result.put("commands", bench.total - bench.prefill);
        result.put("prefill", bench.prefill);
        result.put("replace", replace);
        result.put("passes", passes);
        result.put("warmup", warmup);
        result.put("java", System.getProperty("java.version"));
        result.put("naive", naive);
        result.put("direct", direct);
        result.put("books_agree", agree);
        System.out.println(json(result));
        if (!agree) {
            System.exit(1);
        }
    }
}
