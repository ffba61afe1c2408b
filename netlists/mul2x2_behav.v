// Exact 2x2 unsigned multiplier, behavioural (written for axdnn's tests).
module mul2x2_behav(A, B, O);
  input [2-1:0] A;
  input [2-1:0] B;
  output [2*2-1:0] O;
  assign O = A * B;
endmodule
