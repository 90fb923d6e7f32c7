// cxx_threads.cpp -- a C++17 program for the g++ case: std::thread workers fill and sort
// containers (map, unordered_map, vector<string>, shared_ptr graphs) and hand results through a
// mutex-protected queue; prints checksums that are the same on every correct run.
#include <algorithm>
#include <condition_variable>
#include <cstdint>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <numeric>
#include <queue>
#include <sstream>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace {
struct Lcg {
    uint64_t x;
    uint32_t next() { x = x * 6364136223846793005ULL + 1442695040888963407ULL; return uint32_t(x >> 33); }
};

struct Node {
    int id;
    std::string label;
    std::vector<std::shared_ptr<Node>> kids;
};

uint64_t fnv(const std::string &s, uint64_t h = 1469598103934665603ULL) {
    for (unsigned char c : s) { h ^= c; h *= 1099511628211ULL; }
    return h;
}

std::string work(int seed) {
    Lcg r{uint64_t(seed)};
    std::vector<std::string> words;
    for (int i = 0; i < 60000; i++) words.push_back("w" + std::to_string(r.next() % 50000) + std::string(r.next() % 20, 'x'));
    std::sort(words.begin(), words.end());
    std::map<std::string, int> ordered;
    std::unordered_map<uint32_t, std::vector<int>> buckets;
    for (int i = 0; i < 60000; i++) {
        ordered[words[i].substr(0, 4)] += i % 7;
        buckets[r.next() % 4096].push_back(i);
    }
    auto root = std::make_shared<Node>(Node{0, "root", {}});
    std::vector<std::shared_ptr<Node>> all{root};
    for (int i = 1; i < 30000; i++) {
        auto n = std::make_shared<Node>(Node{i, "n" + std::to_string(i), {}});
        all[r.next() % all.size()]->kids.push_back(n);
        all.push_back(std::move(n));
    }
    all.erase(all.begin() + 1, all.end());   // the tree is now reachable only from root
    uint64_t h = 0;
    size_t count = 0;
    std::vector<Node *> stack{root.get()};
    while (!stack.empty()) {
        Node *n = stack.back();
        stack.pop_back();
        h = fnv(n->label, h);
        count++;
        for (auto &k : n->kids) stack.push_back(k.get());
    }
    size_t big = 0;
    for (auto &b : buckets) big = std::max(big, b.second.size());
    std::ostringstream out;
    out << "seed " << seed << " words " << fnv(std::accumulate(words.begin(), words.begin() + 1000, std::string()))
        << " map " << ordered.size() << " " << ordered.begin()->first << " buckets " << buckets.size() << " " << big
        << " tree " << count << " " << h;
    return out.str();
}
}  // namespace

int main() {
    std::mutex m;
    std::condition_variable cv;
    std::queue<std::pair<int, std::string>> results;
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; t++)
        threads.emplace_back([&, t] {
            std::string s = work(t + 1);
            std::lock_guard<std::mutex> g(m);
            results.emplace(t, std::move(s));
            cv.notify_one();
        });
    std::vector<std::string> lines(4);
    for (int got = 0; got < 4; got++) {
        std::unique_lock<std::mutex> l(m);
        cv.wait(l, [&] { return !results.empty(); });
        lines[results.front().first] = results.front().second;
        results.pop();
    }
    for (auto &t : threads) t.join();
    for (auto &l : lines) std::cout << l << "\n";
    return 0;
}
