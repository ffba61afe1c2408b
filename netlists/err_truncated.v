// Error fixture: the file ends in the middle of an instance.
module err_truncated(A, B, O);
  input [1:0] A;
  input [1:0] B;
  output [1:0] O;
  AND2X1 n0(.A(A[0]), .B(B[0]), .Y(O[0]));
  AND2X1 n1(.A(A[1]), .B(B
