// Poly.java -- HotSpot with its JIT busy: interface and virtual call sites that turn
// monomorphic, then megamorphic, across many classes, in several threads, with Java garbage.
// The JIT's inline caches keep C-heap blocks (CompiledICHolder) reachable only from
// compiled code. Prints deterministic checksums.
import java.util.*;
import java.util.concurrent.*;

public class Poly {
    interface Shape { long area(long k); String name(); }
    static final class A implements Shape { public long area(long k) { return k * 3 + 1; } public String name() { return "A"; } }
    static final class B implements Shape { public long area(long k) { return k * 5 + 2; } public String name() { return "B"; } }
    static final class C implements Shape { public long area(long k) { return k ^ 0x55; } public String name() { return "C"; } }
    static final class D implements Shape { public long area(long k) { return k * k % 1009; } public String name() { return "D"; } }
    static final class E implements Shape { public long area(long k) { return k + 17; } public String name() { return "E"; } }
    static final class F implements Shape { public long area(long k) { return (k << 2) - k; } public String name() { return "F"; } }
    static final class G implements Shape { public long area(long k) { return k % 13; } public String name() { return "G"; } }
    static final class H implements Shape { public long area(long k) { return k * 7 - 3; } public String name() { return "H"; } }
    static abstract class Base { abstract long f(long x); }
    static final class P extends Base { long f(long x) { return x + 1; } }
    static final class Q extends Base { long f(long x) { return x * 2; } }
    static final class R extends Base { long f(long x) { return x - 3; } }
    static final class S extends Base { long f(long x) { return x ^ 7; } }

    static long sum(Shape[] shapes, int rounds) {
        long s = 0;
        for (int r = 0; r < rounds; r++)
            for (Shape sh : shapes) s += sh.area(r) + sh.name().length();
        return s;
    }

    static long virt(Base[] bs, int rounds) {
        long s = 0;
        for (int r = 0; r < rounds; r++) for (Base b : bs) s = s * 31 + b.f(r);
        return s;
    }

    static long phase(int t, int kinds, int rounds) {
        Shape[] all = { new A(), new B(), new C(), new D(), new E(), new F(), new G(), new H() };
        Shape[] use = Arrays.copyOf(all, kinds);
        Base[] bs = { new P(), new Q(), new R(), new S() };
        long s = sum(use, rounds) + virt(Arrays.copyOf(bs, 1 + kinds % 4), rounds);
        List<String> junk = new ArrayList<>();
        for (int i = 0; i < rounds / 10; i++) junk.add(use[i % kinds].name() + i + t);
        Map<String, Integer> m = new HashMap<>();
        for (String j : junk) m.merge(j.substring(0, 1), j.length(), Integer::sum);
        return s + new TreeMap<>(m).toString().hashCode();
    }

    public static void main(String[] args) throws Exception {
        ExecutorService ex = Executors.newFixedThreadPool(3);
        List<Future<Long>> fs = new ArrayList<>();
        for (int t = 0; t < 12; t++) {
            final int tt = t;
            fs.add(ex.submit(() -> {
                long s = 0;
                for (int kinds = 1; kinds <= 8; kinds++) s += phase(tt, kinds, 20000);
                return s;
            }));
        }
        long total = 0;
        for (Future<Long> f : fs) total += f.get();
        ex.shutdown();
        System.out.println("total " + total);
    }
}
