#!/usr/bin/env escript
%%! +Mea min
%% erlang.escript -- Erlang/OTP's BEAM with every allocator on malloc (+Mea min; by default BEAM
%% carves most memory from its own mmap'd carriers), 16 processes over its schedulers' threads,
%% an ETS table, term_to_binary; prints their results. Each scheduler thread's signal stack is
%% a malloc'd block whose only pointer the kernel holds (sigaltstack). The emulator flags are
%% on the second line, where escript reads them.
-mode(compile).
loop(0, Acc) -> Acc;
loop(N, Acc) -> loop(N - 1, [integer_to_list(N * 7919) | Acc]).
worker(Parent, I) ->
    L = loop(20000, []),
    Parent ! {done, I, length(lists:usort(L)), lists:sum([length(X) || X <- L])}.
main(_) ->
    Self = self(),
    [spawn(fun() -> worker(Self, I) end) || I <- lists:seq(1, 16)],
    R = lists:sort([receive {done, I, U, S} -> {I, U, S} end || _ <- lists:seq(1, 16)]),
    io:format("~p~n", [lists:sublist(R, 3)]),
    T = ets:new(t, [set]),
    [ets:insert(T, {K, lists:duplicate(K rem 50, $x)}) || K <- lists:seq(1, 100000)],
    io:format("~p ~p~n", [ets:info(T, size), length(element(2, hd(ets:lookup(T, 777))))]),
    B = term_to_binary(lists:seq(1, 200000)),
    io:format("~p ~p ~p~n", [byte_size(B), lists:sum(binary_to_term(B)), erlang:phash2(B)]),
    M = maps:from_list([{integer_to_binary(K), K * K} || K <- lists:seq(1, 50000)]),
    io:format("~p ~p~n", [map_size(M), maps:get(<<"4242">>, M)]).
